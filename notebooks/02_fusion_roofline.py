# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Operator fusion and the roofline
#
# The roofline model (Williams, Waterman and Patterson, CACM 2009) says a kernel can run no
# faster than `min(peak FLOP/s, bandwidth x arithmetic intensity)`, where intensity is FLOPs per
# byte moved. Elementwise chains (bias + ReLU, Swish, GELU) do a few FLOPs per element, so they sit
# far left, under the bandwidth roof: what limits them is how many times the tensor crosses
# memory. Run eagerly, each op reads and writes the whole tensor; **fused** into one kernel, the
# chain moves it once.
#
# This notebook (1) reads this machine's ceilings, (2) runs mlxa's fusion study on three chains
# of rising intensity across eager and compiled backends, and (3) places every node of a small
# ResNet-18 on the roofline with measured times. `FAST = True` keeps to a few backends, two
# sizes and short budgets.

# %%
FAST = True
SIZES = (256 << 10, 16 << 20) if FAST else (16 << 10, 256 << 10, 4 << 20, 64 << 20)  # bytes of x
BACKENDS = ("numpy", "mlxa", "ort", "xla") if FAST else (
    "numpy", "torch", "mlxa", "xla", "inductor", "ort")
SIZE_BUDGET_S = 0.2 if FAST else 1.0  # per chain and size, all backends taking turns
IMAGE = 64 if FAST else 224  # ResNet-18 input for the roofline
ROOFLINE_BUDGET_S = 2.0 if FAST else 20.0
THREADS = 1  # BLAS threads: on a shared machine one thread is far steadier than all of them

# %% [markdown]
# ## 1. This machine's ceilings
#
# `mlxa machine` measures copy bandwidth by working set (one thread, `np.multiply(a, 1, out=c)`
# from 16 KiB up, best trial per size as STREAM reports), finds the plateaus (cache levels, then
# DRAM) and times a float32 matmul for the FP32 peak. It caches the result per machine
# fingerprint. Here the cached ceilings are read when there are some; otherwise a short sweep
# is measured (a rough roof: a few hundredths of a second per size).

# %%
import matplotlib.pyplot as plt

from mlxa.machine.cache import (
    cache_path,
    fingerprint,
    get_ceilings,
    load_cached,
    machine_description,
)
from mlxa.machine.probe import ProbeConfig
from mlxa.units import format_nbytes

fp = fingerprint(machine_description())
ceilings = load_cached(cache_path(fp, ProbeConfig()), fp)
source = "cached full sweep (mlxa machine)"
if ceilings is None:
    probe = (ProbeConfig(max_nbytes=128 << 20, size_budget_s=0.02, matmul_n=512,
                         peak_budget_s=0.2, int8_n=256, min_trials=2) if FAST else ProbeConfig())
    ceilings, _, _ = get_ceilings(config=probe)
    source = "measured now" + (" (short sweep)" if FAST else "")
print(f"ceilings: {source}; {ceilings.machine.get('cpu', '')}")
print(f"FP32 peak (BLAS matmul) {ceilings.peak_flops_per_s / 1e9:.0f} GFLOP/s, theoretical "
      f"{ceilings.fp32_theoretical.flops_per_s / 1e9:.0f} GFLOP/s")
for p in ceilings.plateaus:
    print(f"  {p.name:<8} {format_nbytes(p.first_nbytes):>10} .. {format_nbytes(p.last_nbytes):>10}"
          f"  copy {p.copy_bytes_per_s / 1e9:6.1f} GB/s")

fig, ax = plt.subplots(figsize=(8, 3.5))
ws = [b.working_set_nbytes for b in ceilings.bandwidth]
ax.plot(ws, [b.copy_bytes_per_s / 1e9 for b in ceilings.bandwidth], "o-", label="copy (best trial)")
ax.plot(ws, [b.triad_bytes_per_s / 1e9 for b in ceilings.bandwidth], "s-", label="triad")
for p in ceilings.plateaus:
    ax.hlines(p.copy_bytes_per_s / 1e9, p.first_nbytes, p.last_nbytes, color="k", lw=3)
ax.set(xscale="log", xlabel="working set (bytes)", ylabel="GB/s", title="bandwidth by working set")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 2. The fusion study
#
# Three chains, each a (rows, 1024) float32 tensor `x` and a bias `b`: bias + ReLU (2 FLOP per
# element), Swish (5) and tanh-GELU (9). Every backend runs each chain at each size, taking turns
# trial by trial with a plain copy of the same size (so load lands on all of them): numpy and
# torch eager (one kernel per op, each allocating its result), mlxa's compiled program (the chain
# fused and blocked into one call), XLA (`jax.jit`), Inductor (`torch.compile`) and ONNX Runtime.
# A backend that is missing or fails is skipped with a note.
#
# GB/s is counted on the chain's minimum traffic (read x and b, write the result: what a perfectly
# fused kernel moves), so backends compare on one scale; "of copy" is that rate over the plain
# copy's at the same size.

# %%
from mlxa.studies.fusion import CHAINS, StudyConfig, run_study

runs, skipped = run_study(CHAINS, StudyConfig(sizes=SIZES, backends=BACKENDS, threads=THREADS,
                                              size_budget_s=SIZE_BUDGET_S))
for s in skipped:
    print(f"skipped {s.backend} on {s.chain}: {s.note}")
print(f"{'chain':<10} {'size':>9} {'backend':<9} {'GB/s':>7} {'of copy':>8} {'kernels':>8}")
for chain in runs:
    for size in chain.sizes:
        for cell in size.cells:
            print(f"{chain.name:<10} {format_nbytes(size.x_nbytes):>9} {cell.backend:<9} "
                  f"{size.bytes_per_s(cell) / 1e9:7.1f} {size.copy_fraction(cell):8.0%} "
                  f"{cell.kernels if cell.kernels is not None else '-':>8}")
    big = chain.sizes[-1]
    ratio = big.ratio("numpy", "mlxa")
    if ratio:
        print(f"  {chain.label}: numpy / mlxa time at {format_nbytes(big.x_nbytes)} = {ratio:.1f}x")

# %% [markdown]
# The picture puts each chain's backends at the largest size on the roofline: one intensity per
# chain (its FLOPs over its minimum traffic), achieved GFLOP/s on y. Eager backends (red) fall
# further below the roof as the chain grows, because each op moves the tensor again; fused ones
# (green) sit near the bandwidth roof while the chain is memory-bound, and below it once its
# transcendental math (tanh, exp) is slower than memory.

# %%
from mlxa.report.ceilings_plot import draw_roofline

fig, ax = plt.subplots(figsize=(8, 4.5))
draw_roofline(ax, ceilings, (0.1, 100))
markers = dict(zip(BACKENDS, "osD^v<>"))
for chain in runs:
    big = chain.sizes[-1]
    for k, cell in enumerate(big.cells):
        gflops = chain.flops_per_element * (big.x_nbytes / 4) / cell.time.median_s / 1e9
        ax.scatter(chain.intensity_flops_per_byte * (1 + 0.06 * k), gflops, s=50,
                   marker=markers.get(cell.backend, "o"),
                   color="tab:red" if cell.kind == "eager" else "tab:green",
                   label=cell.backend if chain is runs[0] else None, edgecolor="k", zorder=3)
    ax.annotate(chain.label, (chain.intensity_flops_per_byte, 0.03), fontsize=8, ha="center",
                xycoords=("data", "axes fraction"))
ax.set_title(f"fusion at {format_nbytes(runs[0].sizes[-1].x_nbytes)}: eager red, compiled green")
ax.legend(fontsize=7, loc="upper left", ncol=2)
plt.show()

# %% [markdown]
# ## 3. Every node of a model on the roofline
#
# `mlxa roofline` compiles the model once, then runs the compiled and the eager executors in
# turns, each round timing one inference node by node and one whole. Every node gets its FLOPs
# and bytes from the op table, a roof from the copy curve at its working set and an FP32 roof
# measured in the same rounds (a 1024^3 matmul, so it sees the load the nodes saw), a predicted
# time `max(FLOPs / peak, bytes / bandwidth)` and an efficiency (predicted / measured).

# %%
from mlxa.analysis.roofline_run import measure_roofline
from mlxa.compare.memory_table import random_inputs
from mlxa.machine.blas import blas_threads
from mlxa.models.zoo import build

graph = build("resnet18", batch=1, seed=0, image=IMAGE)
with blas_threads(THREADS, required=False):
    result = measure_roofline(graph, random_inputs(graph), ceilings,
                              {"name": "resnet18", "description": f"{IMAGE}x{IMAGE}"},
                              budget_s=ROOFLINE_BUDGET_S)
print(f"in-run FP32 roof {result.peak_flops_per_s / 1e9:.0f} GFLOP/s")
for ex in result.executors:
    print(f"{ex.executor:<9} end-to-end {ex.end_to_end.median_s * 1e3:7.2f} ms, node sum "
          f"{ex.sum_ms:7.2f} ms, prediction within 2x on {ex.within_pct:.0f}% of the time "
          f"({ex.rounds} rounds)")
print("\nthe compiled nodes losing the most time against their roof:")
print(f"{'node':<24} {'op':<10} {'ms':>7} {'pred ms':>8} {'FLOP/B':>7} {'bound':<8} hint")
for r in result.top_lost(6):
    print(f"{r.work.name[:24]:<24} {r.work.op[:10]:<10} {r.measured_ms:7.3f} {r.predicted_ms:8.3f} "
          f"{r.work.intensity_flops_per_byte:7.1f} {r.bound:<8} {r.hint}")

# %%
fig, ax = plt.subplots(figsize=(8, 4.5))
draw_roofline(ax, ceilings, (0.05, 500))
ax.axhline(result.peak_flops_per_s / 1e9, color="k", ls=":", lw=1, label="FP32 peak in this run")
for ex, colour in zip(result.executors, ("tab:green", "tab:red")):
    rows = [r for r in ex.rows if r.bound != "view" and r.measured_ms > 0 and r.work.flops > 0]
    ax.scatter([r.work.intensity_flops_per_byte for r in rows],
               [r.achieved_flops_per_s / 1e9 for r in rows],
               s=[20 + 8 * r.share_pct for r in rows], color=colour, alpha=0.6,
               edgecolor="k", label=f"{ex.executor} nodes (area: share of time)")
ax.set_title(f"resnet18 {IMAGE}x{IMAGE}: every node against this machine's roofs")
ax.legend(fontsize=7, loc="lower right")
plt.show()

# %% [markdown]
# ## What the figures mean, and where they come from
#
# - **Ceilings** are measured on this machine, one thread for bandwidth (numpy ufuncs run on
#   one), the BLAS threads for the peak; the plateaus are what the curve shows, not what the CPU
#   reports. On a busy machine every figure is lower and noisier; the full `mlxa machine` takes
#   10 to 15 s and reports each figure's spread.
# - **Fusion**: the kernel counts show what each backend ran per call (numpy one per op; mlxa,
#   XLA and Inductor one fused kernel). Backends that allocate their result on each call pay for
#   fresh pages at DRAM sizes; mlxa writes into its planned buffer.
# - **Roofline**: points on a slanted roof are memory-bound and as fast as memory allows; points
#   far below are losing time to dispatch, layout or a slow kernel path. A Winograd conv can sit
#   above the compute roof, since it multiplies less than the op table counts.
#
# Published anchors: the roofline model (Williams et al., CACM 52(4), 2009); the Empirical
# Roofline Toolkit and STREAM for measuring ceilings (best rate reported); XLA's fusion analysed by
# Snider and Liang (arXiv 2301.13062); TorchInductor on CPU: geomean 1.39x / 1.20x / 1.73x over
# eager on TorchBench / HuggingFace / TIMM multi-threaded (PyTorch dev-discuss, "TorchInductor
# Update 5").
