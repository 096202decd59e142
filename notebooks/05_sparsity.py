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
# # Sparsity: what zero weights buy, and when
#
# Pruning sets weights to zero: **unstructured** (the smallest magnitudes anywhere), **block**
# (16 output rows x 1 input column, a unit a kernel can skip), **2:4** (2 of every 4 consecutive
# weights) or whole **channels**. Zeros only save time if a kernel skips them; a dense BLAS
# multiplies them like any other number. Users keep asking why "pruning does not reduce inference
# time" (tensorflow/model-optimization#611, pytorch/tutorials#905).
#
# This notebook prunes ResNet-18 (`mlxa.passes.sparsify`), finds the density below which a sparse
# kernel beats dense BLAS for a few of its product shapes (`mlxa.studies.sparsity`), times dense
# runtimes on a 90%-zero model, removes half the channels physically, and shows what pruning
# without fine-tuning costs in accuracy on a trained model. `FAST = True`: a 64x64 image, three
# product shapes, short budgets.

# %%
FAST = True
IMAGE = 64 if FAST else 224
SHAPES = 3 if FAST else None  # product shapes probed for break-even (None: all of them)
PROBE_BUDGET_S = 0.03 if FAST else 0.15  # per break-even probe
MODEL_BUDGET_S = 0.3 if FAST else 3.0  # per whole-model comparison
THREADS = 1

# %%
import matplotlib.pyplot as plt

from mlxa.machine.blas import blas_threads
from mlxa.models.zoo import build
from mlxa.passes.fold_batch_norm import fold_batch_norm
from mlxa.passes.sparsify import prune_report, sparsify
from mlxa.studies.sparsity import Config, spec_of

graph = fold_batch_norm(build("resnet18", batch=1, image=IMAGE))
print(f"{'pattern':<14} {'level':>5} {'zeros':>7} {'layers pruned':>14} {'skippable FLOPs':>16}")
for pattern, level in (("unstructured", 0.9), ("block", 0.9), ("2:4", 0.5), ("channel", 0.5)):
    report = prune_report(sparsify(graph, spec_of(pattern, level)), graph)
    zeros, weights = sum(r.zeros for r in report), sum(r.weights for r in report)
    skip, flops = sum(r.skippable_flops for r in report), sum(r.flops for r in report)
    print(f"{pattern:<14} {level:5.0%} {zeros / weights:7.1%} "
          f"{sum(r.pruned for r in report):>6} of {len(report):<6} {skip / flops:16.1%}")

# %% [markdown]
# Patterns that do not fit a layer leave it dense (2:4 needs K a multiple of 4, so the 7x7 stem
# stays; block needs O a multiple of 16). Skippable FLOPs are what a perfect sparse kernel could
# avoid. Whether it actually does is the next question.
#
# ## Break-even density per product shape
#
# Each conv is a product `W[O, K] @ X[K, N]` (im2col columns made outside the timing). For a
# shape, dense numpy BLAS races **CSR** (scipy.sparse) and mlxa's **block-sparse** kernel (per
# block of 16 output rows, only the input columns with a nonzero are gathered, then one dense
# product) at decreasing density; geometric bisection finds where sparse time / dense time
# crosses 1. Below that density sparse wins.

# %%
from mlxa.studies.sparsity import measure_break_even, product_shapes

shapes = list(product_shapes(graph).items())[:SHAPES]
with blas_threads(THREADS, required=False):
    even = [measure_break_even(shape, names, PROBE_BUDGET_S) for shape, names in shapes]


def pct(density):
    return "-" if density is None else f"{density:.1%}"


print(f"{'O x K x N':<18} {'dense ms':>9} {'CSR':>7} {'block':>7}  layers")
for b in even:
    print(f"{'x'.join(map(str, b.shape)):<18} {b.dense_ms:9.3f} {pct(b.csr_density):>7} "
          f"{pct(b.block_density):>7}  {', '.join(b.layers)}")

fig, ax = plt.subplots(figsize=(8, 3.8))
for b, colour in zip(even, plt.cm.tab10.colors):
    for probes, style, kind in ((b.csr_probes, "o-", "CSR"), (b.block_probes, "s--", "block")):
        pts = sorted((p.density, p.ratio) for p in probes)
        if pts:
            ax.plot(*zip(*pts), style, color=colour, ms=4,
                    label=f"{kind} {'x'.join(map(str, b.shape))}")
ax.axhline(1, color="k", lw=1)
ax.set(xscale="log", yscale="log", xlabel="weight density (nonzeros / weights)",
       ylabel="sparse time / dense time", title="where sparse beats dense BLAS (below 1)")
ax.legend(fontsize=7, ncol=2)
plt.show()

# %% [markdown]
# ## Dense runtimes on zeros, and channels removed
#
# ONNX Runtime, XLA (weights as constants) and mlxa compiled run the model dense and 90%
# unstructured-pruned, all taking turns; the dense model is timed a second time in the same
# rounds ("dense again"), so pruned/dense can be read against the run's own A/A noise.
# Then channel pruning, physically: a union-find over the graph forms channel groups (a residual
# sum ties its operands' channels), half of each free group's channels go, and the next convs'
# inputs are cut to match. The oracle checks the smaller model against the zero-masked one.

# %%
from mlxa.studies import sparsity_models

config = Config(model="resnet18", image=IMAGE, threads=THREADS, model_budget_s=MODEL_BUDGET_S)
with blas_threads(THREADS, required=False):
    zeros = sparsity_models.runtime_zeros(graph, 0.9, config)
    channel = sparsity_models.channel_pruning("resnet18", graph, config)
print(f"{'runtime':<8} {'dense ms':>9} {'90% zeros':>10} {'pruned/dense':>13} {'A/A noise':>10}")
for z in zeros:
    print(f"{z.runtime:<8} {z.dense_ms:9.2f} {z.pruned_ms:10.2f} {z.ratio:13.2f} {z.noise:10.2f}")
c = channel
print(f"\nchannels at {c.level:.0%}: FLOPs {c.flops_before / 1e6:.0f} M -> "
      f"{c.flops_after / 1e6:.0f} M "
      f"({c.flops_before / c.flops_after:.2f}x fewer), weights {c.params_before / 1e6:.1f} M -> "
      f"{c.params_after / 1e6:.1f} M")
print(f"eager {c.eager_ms[0]:.2f} -> {c.eager_ms[1]:.2f} ms ({c.eager_speedup:.2f}x), compiled "
      f"{c.compiled_ms[0]:.2f} -> {c.compiled_ms[1]:.2f} ms ({c.compiled_speedup:.2f}x); removed "
      f"vs zeroed model: {'PASS' if c.same_outputs else 'FAIL'}")

# %% [markdown]
# ## What pruning costs in accuracy
#
# `digits_cnn` (trained on scikit-learn's digits) pruned in each pattern and level, without
# fine-tuning, top-1 on its 450 held-out images.

# %%
dense_top1, curve = sparsity_models.accuracy_curve()
fig, ax = plt.subplots(figsize=(7, 3.5))
for pattern in dict.fromkeys(p.pattern for p in curve):
    pts = [(p.sparsity, p.top1) for p in curve if p.pattern == pattern]
    ax.plot(*zip(*pts), "o-" if len(pts) > 1 else "D", label=pattern)
ax.axhline(dense_top1, color="k", ls="--", lw=1, label=f"dense {dense_top1:.1%}")
ax.set(xlabel="share of weights zero", ylabel="top-1 (held out)",
       title="digits_cnn pruned, no fine-tuning")
ax.legend(fontsize=8)
plt.show()
for p in curve:
    print(f"{p.pattern:<13} level {p.level:4.0%}  zeros {p.sparsity:5.1%}  top-1 {p.top1:6.1%}")

# %% [markdown]
# ## What the figures mean, and where they come from
#
# - **Break-even**: unstructured zeros pay in CSR only at low density (on the shared development
#   machine 10% to 28% density at 224x224, i.e. beyond 72% to 90% sparsity); the block pattern
#   pays in mlxa's kernel from about half zeros. Densities come from interleaved best-of timings
#   and a bisection that assumes the ratio grows with density.
# - **Dense runtimes**: a pruned/dense ratio within the A/A noise is no gain; none of the three
#   runtimes skips zeros in a dense weight.
# - **Channel pruning** is the form that pays in a dense executor: the convs are smaller.
# - Accuracy without fine-tuning holds up to about half zeros; beyond, pruning needs retraining,
#   which this study does not do.
#
# Published anchors: "Fast Sparse ConvNets" (Elsen et al., CVPR 2020): sparse 1x1 convs as SpMM
# at 70% to 95% sparsity, 1.3x to 2.4x over dense on ARM; XNNPACK's sparse inference 1.2x to 2.4x
# on phones, with its x86 sparse path disabled as "expected to be worse than dense"; Neural
# Magic's DeepSparse: unstructured pruning 1.5x to 3x (deepsparse#66). PyTorch's 2:4
# semi-structured sparsity is GPU-only.
