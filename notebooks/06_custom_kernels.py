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
# # Custom kernels: where a hand-written kernel beats the op table
#
# mlxa's op table runs each op as a composition of numpy calls; a compiler fuses them into
# generated code. Some patterns are missed by both: a depthwise conv with its bias and ReLU6, a
# layer norm or softmax that numpy runs in several passes over memory, a GELU whose `tanh` is
# scalar code. `mlxa.kernels` holds alternative kernels for such nodes (a conv with its activation
# as an epilogue, prepacked linear layers through torch's oneDNN, Numba loops for depthwise conv,
# direct stem convs, pools, layer norm and softmax, and any fused elementwise chain as one
# generated loop with vectorised transcendentals), chosen per node at bind time wherever the
# kernel's predicate holds, its library is installed and its trial finds it faster. Every kernel
# is on offer by default; `CompileOptions(kernels=())` runs the op table alone.
#
# This notebook runs the kernel case studies (`mlxa.studies.kernels.run_case`): each case is one
# small graph run by mlxa eager, mlxa compiled, mlxa with custom kernels, XLA, ONNX Runtime (and
# Inductor with `FAST = False`), taking turns, each output checked against a float64 reference.
# Then an ablation: each technique switched off in turn on a whole model.

# %%
FAST = True
BUDGET_S = 0.3 if FAST else 2.0  # seconds of interleaved timing per case
BACKENDS = ("xla", "ort") if FAST else ("xla", "inductor", "ort")  # besides mlxa's three
ABLATION_MODEL = "small_cnn" if FAST else "mobilenet_v2"
THREADS = 1

# %%
import matplotlib.pyplot as plt

import mlxa.kernels.library  # noqa: F401  (registers the kernels mlxa ships)
from mlxa.kernels import KERNELS
from mlxa.studies.kernels import CASES, run_case

print(f"{'kernel':<22} {'op':<10} {'technique':<10} {'available':<9}")
for k in KERNELS.values():
    print(f"{k.name:<22} {k.op:<10} {k.technique:<10} {str(k.available):<9}")

# %%
results = [run_case(name, threads=THREADS, budget_s=BUDGET_S, backends_on=BACKENDS)
           for name in CASES]
for r in results:
    print(f"== {r.name}: {r.description}")
    print(f"   {r.flops / 1e6:.1f} MFLOP, {r.compulsory_nbytes / 2**20:.2f} MiB compulsory "
          f"traffic; oracle bound {r.oracle_bound:.1e}")
    for row in r.rows:
        if row.best_ms is None:
            print(f"   {row.backend:<16} skipped: {row.note}")
            continue
        print(f"   {row.backend:<16} {row.best_ms:8.3f} ms {row.gb_per_s:7.2f} GB/s "
              f"{row.gflop_per_s:7.2f} GFLOP/s  err {row.error:.1e}"
              + (f"  [{row.kernel}]" if row.kernel else ""))

# %% [markdown]
# The picture: each case's best time per backend over mlxa compiled's (below 1: faster than the
# op table's compiled program). The custom-kernel bar is what the kernels buy mlxa; the other
# bars place it against the compilers.

# %%
order = ["mlxa eager", "mlxa + kernels", "numba libm tanh", "xla", "inductor", "ort"]
fig, ax = plt.subplots(figsize=(10, 4))
width = 0.8 / len(order)
for j, backend in enumerate(order):
    xs, ys = [], []
    for i, r in enumerate(results):
        rows = {row.backend: row for row in r.rows if row.best_ms is not None}
        if backend in rows and "mlxa compiled" in rows:
            xs.append(i + (j - len(order) / 2) * width)
            ys.append(rows[backend].best_ms / rows["mlxa compiled"].best_ms)
    if xs:
        ax.bar(xs, ys, width, label=backend)
ax.axhline(1, color="k", lw=1, label="mlxa compiled")
ax.set(xticks=range(len(results)), yscale="log", ylabel="time / mlxa compiled",
       title="custom-kernel cases: best time against mlxa's compiled op table")
ax.set_xticklabels([r.name for r in results], rotation=20, fontsize=8)
ax.legend(fontsize=7, ncol=4)
plt.show()

# %% [markdown]
# ## Ablation: which technique pays on a whole model
#
# The full configuration, then each technique off in turn (planning and in-place, fusion,
# prepacking, epilogues, Numba kernels), against eager and ONNX Runtime in one interleaved run.
# `off / full` above 1 means the technique pays here. Techniques interact (in-place is what lets
# an epilogue be absorbed; without fusion there is no bias + GELU group for Numba to bind), so
# the ratios do not multiply up to the total.

# %%
from mlxa.machine.blas import blas_threads
from mlxa.studies.ablation import render_rows, run_ablation

with blas_threads(THREADS, required=False):
    row = run_ablation(ABLATION_MODEL, batch=1, threads=THREADS, repeat=5, rounds=2)
print(render_rows([row]))
print("\nkernels bound in the full configuration:")
for line in row.kernels[:8]:
    print("  ", line)
if len(row.kernels) > 8:
    print(f"   ... and {len(row.kernels) - 8} more")

# %% [markdown]
# ## What the figures mean, and where they come from
#
# - **Times** are best-of interleaved rounds on one thread; GB/s is counted on the case's
#   compulsory traffic (inputs, weights and outputs once: what a perfectly fused kernel moves),
#   GFLOP/s on the op table's FLOPs. **err** is the error against a float64 run relative to the
#   output's scale; every mlxa row must stay within the oracle's bound.
# - **numba libm tanh** is the naive fusion of bias + GELU through libm's scalar `tanhf`, kept for
#   contrast: fusing a transcendental chain without vector math makes it compute-bound, which is
#   why mlxa's chain loop computes sigmoid and tanh from vectorisable arithmetic
#   (`mlxa.kernels.vmath`: a rational function, and a polynomial exp).
# - The first call of a Numba kernel compiles it; timing starts after warm-up, so compile time is
#   not in these figures.
#
# Published anchors: Triton has no CPU backend (triton-lang/triton#4898; a separate triton-cpu
# fork builds from source) and Pallas runs on CPU only in interpret mode, which is why mlxa's CPU
# kernels are Numba loops and numpy; Numba compiles on CPU, but without SVML its tanh and exp are
# scalar.
