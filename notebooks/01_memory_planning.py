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
# # Memory planning: one arena instead of an allocation per op
#
# An eager runtime (numpy, PyTorch eager) allocates a fresh result for every op. A compiler knows
# the whole graph before it runs, so it can do better: it computes each tensor's **lifetime** (the
# half-open step interval from the node that defines it to one past its last use), then gives every
# intermediate a byte **offset** in one preallocated **arena** so that no two tensors alive at the
# same step overlap. No plan can beat the **lower bound**: the most bytes alive at one step.
#
# This notebook compiles a small ResNet-18 with `mlxa.compiler.compile_program`, reads the plan
# and its bound, draws where each buffer lives, runs eager and compiled side by side with
# `mlxa.session.analyze`, and then plans a larger synthetic instance with the planners directly.
# `FAST = True` keeps it to a few seconds; set it to `False` for the full 224x224 image.

# %%
FAST = True
IMAGE = 64 if FAST else 224  # ResNet-18's input is IMAGE x IMAGE, batch 1
BUDGET_S = 0.5 if FAST else 3.0  # seconds of interleaved eager/compiled timing
PLAN_LIMIT_S = 1.0 if FAST else 10.0  # time limit of the exact planner
THREADS = 1  # BLAS threads: on a shared machine one thread is far steadier than all of them

# %%
import matplotlib.pyplot as plt
import numpy as np

from mlxa.compiler import CompileOptions, compile_program
from mlxa.models.zoo import build
from mlxa.units import format_nbytes

graph = build("resnet18", batch=1, seed=0, image=IMAGE)
program = compile_program(graph, CompileOptions(planner="best"))
print(f"{len(graph.nodes)} nodes as written, {len(program.graph.nodes)} after the passes "
      f"({', '.join(p.name for p in program.passes)})")
print(f"{len(program.planned_buffers)} planned buffers, "
      f"arena {format_nbytes(program.plan.arena_nbytes)}, "
      f"lower bound {format_nbytes(program.lower_bound_nbytes)}")

# %% [markdown]
# ## The planners side by side
#
# `compile_program` runs every one-pass heuristic on the same lifetimes and keeps the smallest
# (`best`): `no_reuse` (every buffer its own bytes, what eager allocation amounts to),
# `first_fit` in program order, `greedy_by_size` (best fit, largest first: TFLite's ArenaPlanner)
# and `greedy_by_lifetime` (XLA's other order). The ratio to the lower bound says how much room
# is left for any planner.

# %%
lb = program.lower_bound_nbytes
rows = sorted(program.heuristic_arenas.items(), key=lambda kv: kv[1])
print(f"{'planner':<20} {'arena':>12} {'/ bound':>8}")
for name, arena in rows:
    print(f"{name:<20} {format_nbytes(arena):>12} {arena / lb:>8.2f}")
print(f"{'lower bound':<20} {format_nbytes(lb):>12} {1:>8.2f}")
print("\nthe bound after each pass (bytes alive at the busiest step):")
for step, nbytes in program.bound_steps:
    print(f"  {step:<28} {format_nbytes(nbytes):>12}")

# %% [markdown]
# ## Where each buffer lives
#
# Step on x, arena offset on y, one rectangle per planned buffer (a conv's column buffer is a
# buffer alive at its own step only). The black step curve is the bytes alive at each step: its
# maximum is the lower bound (red). White space between the curve and the arena line is
# fragmentation the planner could not avoid.

# %%
def draw_plan(buffers, offsets, arena, ax, title):
    for b, off in zip(buffers, offsets):
        ax.add_patch(plt.Rectangle((b.start, off / 2**10), b.end - b.start, b.nbytes / 2**10,
                                   facecolor="tab:blue", edgecolor="black", lw=0.3, alpha=0.8))
    steps = np.arange(max(b.end for b in buffers) + 1)
    live = np.zeros(len(steps))
    for b in buffers:
        live[b.start:b.end] += b.nbytes
    ax.step(steps, live / 2**10, where="post", color="black", lw=1, label="bytes alive")
    ax.axhline(max(live) / 2**10, color="tab:red", ls="--", lw=1, label="lower bound")
    ax.axhline(arena / 2**10, color="tab:green", lw=1, label="arena")
    ax.set(xlim=(0, steps[-1]), ylim=(0, arena / 2**10 * 1.05), xlabel="step",
           ylabel="offset (KiB)", title=title)
    ax.legend(loc="upper right", fontsize=8)

fig, ax = plt.subplots(figsize=(10, 4))
draw_plan(program.planned_buffers, program.plan.offsets, program.plan.arena_nbytes, ax,
          f"resnet18 {IMAGE}x{IMAGE}: plan {program.plan.strategy}")
plt.show()

# %% [markdown]
# ## Does it pay? Eager against compiled, measured
#
# `mlxa.session.analyze` runs both executors taking turns call by call (so load that arrives
# mid-run lands on both), measures one inference's traced peak memory each, and judges the
# compiled outputs against a float64 run (the oracle). It takes the program compiled above, so
# nothing is compiled twice.

# %%
from mlxa.compare.memory_table import random_inputs
from mlxa.machine.blas import blas_threads
from mlxa.result import ModelInfo, RunConfig
from mlxa.session import analyze

with blas_threads(THREADS, required=False):
    run = analyze(graph, random_inputs(graph),
                  RunConfig(mode="both", budget_s=BUDGET_S, threads=THREADS),
                  ModelInfo(name="resnet18", description=f"{IMAGE}x{IMAGE}"), program=program)
b, o, c = run.baseline, run.optimized, run.comparison
print(f"{'':<28} {'eager':>12} {'compiled':>12}")
print(f"{'latency median (ms)':<28} {b.latency.median_ms:>12.2f} {o.latency.median_ms:>12.2f}")
print(f"{'peak traced memory':<28} {format_nbytes(b.memory.peak_traced_nbytes):>12} "
      f"{format_nbytes(o.memory.peak_traced_nbytes):>12}")
print(f"{'tensor allocations / call':<28} {b.memory.allocations_per_inference:>12} "
      f"{o.memory.allocations_per_inference:>12}")
print(f"speedup {c.speedup_ratio:.2f}x (95% interval {c.speedup_low_ratio:.2f} to "
      f"{c.speedup_high_ratio:.2f}); oracle {'PASS' if c.correctness.passed else 'FAIL'}")
m = c.memory
print(f"memory, {m.compares}:\n  eager {format_nbytes(m.baseline_nbytes)}, compiled "
      f"{format_nbytes(m.optimized_nbytes)}: compiled / eager = "
      f"{m.optimized_nbytes / m.baseline_nbytes:.2f}")
for w in run.warnings:
    print("warning:", w)

# %% [markdown]
# ## Beyond one model: the planners on a harder instance
#
# `mlxa plan FILE.csv` plans any instance (`id,lower,upper,size`). ResNet-18's chain of
# lifetimes is easy; here a deterministic random instance (uniform start steps, log-normal
# lifetimes and sizes: no structure for a greedy order to exploit). First the one-pass
# heuristics, then `auto`, which improves the best of them and asks the exact planner (a
# MiniMalloc-style branch and bound, with CP-SAT beside it when OR-tools is installed) whether
# a smaller arena fits, within a time limit.

# %%
from mlxa.planners import lower_bound
from mlxa.planners.instance import random_instance
from mlxa.planners.outcome import plan_instance
from mlxa.planners.registry import HEURISTICS

buffers = random_instance(n=200 if FAST else 2000, seed=0)
bound = lower_bound(buffers)
arenas = {name: planner(buffers).arena_nbytes for name, planner in HEURISTICS.items()}
auto = plan_instance(buffers, "random_instance", time_limit_s=PLAN_LIMIT_S)
arenas[f"auto ({auto.strategy}, {auto.engine or 'heuristic'})"] = auto.arena_nbytes
print(f"{len(buffers)} buffers, lower bound {format_nbytes(bound)}; auto's plan proven optimal: "
      f"{auto.proven_optimal}")
for name, arena in arenas.items():
    print(f"{name:<40} {format_nbytes(arena):>12} {arena / bound:>6.3f} x bound")

fig, ax = plt.subplots(figsize=(8, 3))
names = list(arenas)
ax.barh(names, [arenas[n] / bound for n in names], color="tab:blue")
ax.axvline(1.0, color="tab:red", ls="--", label="lower bound")
ax.set(xlabel="arena / lower bound", xscale="log", title="planners on one instance")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## What the figures mean, and where they come from
#
# - **arena** is the planner's result; the compiled executor allocates exactly that once (tested
#   with tracemalloc), so tensor allocations per call drop to zero after the first.
# - **lower bound** is a sweep over the lifetimes (sizes rounded to the 64-byte alignment, op
#   scratch included); the bound steps show what batch-norm folding, fusion and in-place sharing
#   did to it before any planner ran (on this ResNet-18, nothing: the busiest step is not one
#   that folding or fusion removes).
# - **compiled footprint** is arena + the fused kernels' workspace + input and output buffers:
#   held between calls, which is why the compiled call's own traced peak is so small. At a small
#   image the fixed parts (workspace, input and output) can make the footprint larger than
#   eager's peak; one arena allocated once against eager's allocations on every call is the point.
# - **peak traced memory** is `tracemalloc` during one call; the compiled figure includes
#   numpy's small iterator buffers, which are not tensors.
# - On a busy machine latency swings; the interval and the warnings say how much to trust it.
#
# Published anchors: TFLite's ArenaPlanner and XLA place buffers greedily, by size or by
# lifetime; MiniMalloc (Moffitt, ASPLOS 2023) solves the placement exactly by branch and bound,
# the approach of mlxa's `exact` planner. `mlxa memory` puts our arenas beside XLA's temporary
# buffer and onnx-tool's estimate.
