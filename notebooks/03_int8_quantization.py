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
# # INT8 quantization: size, speed and accuracy, measured
#
# Post-training quantization stores weights as 8-bit integers (one scale per output channel,
# symmetric) and runs convs and matrix products on 8-bit activations (one scale and zero point
# per tensor, from a calibration run), accumulating in int32 and requantizing each result to 8
# bits with a fixed-point multiplier and shift (gemmlowp, TFLite). The promise: 4x smaller
# weights, integer kernels that do 4x more multiply-adds per instruction (VNNI), and a small loss
# of accuracy.
#
# `mlxa.studies.quantization.study` quantizes a model with mlxa's passes, exports both forms to
# ONNX, quantizes the FP32 model with ONNX Runtime's own `quantize_static` too, and measures
# all of them side by side. Here: `digits_cnn`, a small CNN trained on scikit-learn's digits,
# so accuracy is top-1 on 450 held-out images; and ResNet-18 (random weights: accuracy is
# agreement with FP32 and output SQNR), 64x64 with `FAST = True`, 224x224 without.

# %%
FAST = True
CALIBRATION_IMAGES = 16 if FAST else 64  # training images, one per batch
BUDGET_S = 1.0 if FAST else 4.0  # seconds of interleaved timing per model
THREADS = 1  # ONNX Runtime's pool and numpy's BLAS alike
MODELS = {"digits_cnn": {}, "resnet18": {"image": 64 if FAST else 224}}  # zoo name -> sizes

# %%
import matplotlib.pyplot as plt
import numpy as np

from mlxa.machine.blas import blas_threads
from mlxa.models.digits_cnn import digits_split
from mlxa.models.zoo import build
from mlxa.studies.quantization import Settings, study
from mlxa.studies.quantization_flags import speedup_note
from mlxa.units import format_nbytes


def inputs_of(name, graph):
    """(calibration, evaluation, labels): real digits for digits_cnn, seeded noise otherwise."""
    if name == "digits_cnn":
        x_train, _, x_test, y_test = digits_split()
        return ([(x[None],) for x in x_train[:CALIBRATION_IMAGES]],
                [(x[None],) for x in x_test], y_test)
    shape = graph.inputs[0].shape

    def draw(seed):
        return (np.random.default_rng(seed).standard_normal(shape).astype(np.float32),)

    return [draw(1000 + i) for i in range(4)], [draw(i) for i in range(4)], None


settings = Settings(calibration="minmax", activations="u8", rounding="fixed_point",
                    threads=THREADS, budget_s=BUDGET_S)
studies = {}
with blas_threads(THREADS, required=False):
    for name, sizes in MODELS.items():
        graph = build(name, **sizes)
        studies[name] = study(graph, name, settings, *inputs_of(name, graph))
print("done:", ", ".join(studies))

# %% [markdown]
# ## Size, latency, accuracy
#
# - **size**: exact parameter bytes; INT8 counts 8-bit weights, scales and zero points, int32
#   biases and whatever stays float.
# - **latency**: medians of interleaved turns. `mlxa_*` run mlxa's compiled executor (its integer
#   kernels are *reference* kernels: numpy has no int8 GEMM, so the exact int32 accumulation runs
#   in float64 BLAS); `ort_*` run ONNX Runtime with its real integer kernels: the FP32 model, mlxa's
#   QDQ export, and ONNX Runtime's own `quantize_static` of the same model.
# - **accuracy**: output SQNR (dB) against the same runtime's FP32 output, top-1 agreement with
#   FP32, and for digits_cnn top-1 on the held-out labels.

# %%
for name, r in studies.items():
    s, acc = r.size, r.accuracy
    print(f"== {name} {r.input_shape}")
    print(f"size    FP32 {format_nbytes(s.fp32_nbytes)} -> INT8 {format_nbytes(s.int8_nbytes)} "
          f"({s.ratio:.2f}x smaller)")
    print(f"arena   FP32 {format_nbytes(r.arena.fp32_arena_nbytes)} -> INT8 "
          f"{format_nbytes(r.arena.int8_arena_nbytes)} (values alone "
          f"{format_nbytes(r.arena.fp32_values_nbytes)} -> "
          f"{format_nbytes(r.arena.int8_values_nbytes)})")
    print(f"{'runtime':<22} {'median ms':>10} {'SQNR dB':>8} {'agree':>6} {'top-1':>6}")
    for key, ms in r.latency_ms.items():
        sqnr = acc.output_sqnr_db.get(key)
        agree = acc.top1_agreement.get(key)
        top1 = acc.task_top1.get(key)
        print(f"{key:<22} {ms:10.3f} {'' if sqnr is None else f'{sqnr:8.1f}':>8} "
              f"{'' if agree is None else f'{agree:6.0%}':>6} "
              f"{'' if top1 is None else f'{top1:6.1%}':>6}")
    print(f"integer share of FLOPs {r.coverage.share:.1%}; worst layer SQNR "
          f"{min(layer.sqnr_db for layer in acc.layers):.1f} dB over {len(acc.layers)} integer ops")
    print(speedup_note(r))
    for flag in r.flags:
        print("!", flag)

# %% [markdown]
# ## Where the time went
#
# Latency by op kind, FP32 against INT8, from mlxa's per-node times and from ONNX Runtime's own
# profiler. The quantize/dequantize bars are the price of entering and leaving the integer
# domain: on a model this small they can be a large share of the whole.

# %%
fig, axes = plt.subplots(len(studies), 2, figsize=(10, 3.2 * len(studies)), squeeze=False)
for (name, r), row in zip(studies.items(), axes):
    for ax, (title, rows) in zip(row, (("mlxa (reference integer kernels)", r.attribution),
                                       ("ONNX Runtime (its profiler)", r.ort_attribution))):
        kinds = [t.kind for t in rows]
        y = np.arange(len(kinds))
        ax.barh(y - 0.2, [t.fp32_ms for t in rows], 0.4, label="FP32", color="tab:blue")
        ax.barh(y + 0.2, [t.int8_ms for t in rows], 0.4, label="INT8", color="tab:orange")
        ax.set(yticks=y, yticklabels=kinds, xlabel="ms per inference", title=f"{name}: {title}")
        ax.invert_yaxis()
        ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# And the accuracy side, layer by layer: the SQNR of each integer op's dequantized output
# against the float value at the same place (errors accumulate from the input). Above about
# 30 dB the 8-bit result is within a few percent of the float one.

# %%
fig, ax = plt.subplots(figsize=(8, 3))
for name, r in studies.items():
    layers = r.accuracy.layers
    ax.plot([layer.name for layer in layers], [layer.sqnr_db for layer in layers], "o-",
            label=name)
ax.set(ylabel="SQNR (dB)", title="per-layer SQNR, INT8 vs FP32")
ax.tick_params(axis="x", rotation=60, labelsize=7)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## What the figures mean, and where they come from
#
# - mlxa's INT8 latency measures a reference kernel, not a fast one: it is there to be exact
#   (bit for bit equal to ONNX Runtime's QLinearConv with `rounding="float"`), so compare speed in
#   the `ort_*` rows. INT8 pays where the convs and products are large enough for integer kernels
#   to outweigh the quantize/dequantize at the edges: digits_cnn (0.2 MFLOP) is not, ResNet-18 is.
# - Each latency is one median over a short budget on whatever load the machine has; the flags
#   and the ratio line are computed from these medians, so rerun before quoting a ratio.
# - The machine's INT8 roof (`mlxa machine`: ONNX Runtime's `MatMulInteger`) and whether the CPU
#   has VNNI or AMX are in the flags above.
#
# Published anchors: the ONNX model zoo's ResNet-50 v1-12 INT8 in ONNX Runtime: top-1 74.97 ->
# 74.77, 97.8 -> 24.6 MB, 1.82x faster (Xeon 8280, 4 cores); TFLite post-training quantization:
# MobileNet v1 0.709 -> 0.657 top-1, 180 -> 145 ms, and MobileNet v2 slower (117 -> 121 ms);
# Intel's x86 backend for PyTorch: 2.97x geomean INT8 over FP32 on 69 models (4th-gen Xeon);
# OpenVINO resnet-50 1.8x to 3.9x. Users report "quantized model slower than FP32 on CPU"
# (onnxruntime #17389, #20052); the maintainers' answer is static quantization for CNNs, since
# the dynamic ConvInteger path has no optimized kernel (onnxruntime #12854). Requantization by
# fixed-point multiplier and shift follows gemmlowp's `quantization.md` and TFLite's
# quantization specification.
