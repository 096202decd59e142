"""The layout case study: NCHW vs NHWC vs blocked NCHWc, conv by conv, and whole models.

Per conv of a zoo model (batch norms folded, as compiled): its time in each layout in mlxa
(ops/conv.py, ops/conv_cl.py), in torch (contiguous vs channels_last) and in ONNX Runtime (plain
Conv vs its NCHWc transformer, the reorders it adds timed apart); whether the innermost
dimension of each layout is a multiple of this CPU's SIMD width; and a prediction of mlxa's
fastest layout (`predict`, the rule stated in PREDICTION_RULE) checked against the measurement.
Per model and layout: the relayouts (transposes) the pass inserts and their share of the
compiled model's time. Conv geometries that repeat are measured once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlxa.ir.graph import Graph, Node
from mlxa.ops import conv as conv_op
from mlxa.ops import get_op
from mlxa.passes.fold_batch_norm import fold_batch_norm
from mlxa.passes.layout import simd_floats
from mlxa.report.progress import Progress, no_progress
from mlxa.result import Versioned
from mlxa.studies.interleave import blas_threads, interleave
from mlxa.studies.layout_backends import mlxa_conv_calls, ort_conv_times, torch_conv_calls

SCHEMA = "mlxa.layout/1"
LAYOUTS = ("nchw", "nhwc", "nchwc")
TIE_FRACTION = 0.10  # layouts within 10% of the fastest are tied with it (the run's noise)
PREDICTION_RULE = (
    "mlxa's fastest layout, predicted from the kernel each layout runs: nchw, except (a) a "
    "depthwise conv with fewer output positions (oh*ow) than channels: its nhwc kernel's "
    "per-tap vector (C floats) is then longer than the nchw kernel's per-channel row of "
    "positions, so nhwc; (b) a dense conv that both layouts run by im2col (not 3x3 stride 1, "
    "which nchw runs by Winograd, nor 1x1 stride 1, one product in both) whose input channels "
    "are a multiple of the SIMD width: nhwc copies whole vectors into its columns, so nhwc. "
    "nchwc never: numpy's per-call cost on inner loops of one block (8 or 16 floats) and the "
    "scatter of each product into blocks outweigh its vector alignment. A prediction agrees "
    "when its layout is the fastest or within 10% of it (tied); strict agreement asks for "
    "the fastest.")


@dataclass(frozen=True)
class ConvRow:
    """One conv: geometry, the nchw kernel mlxa plans for it, milliseconds per layout in each
    runtime (best of interleaved rounds; ORT: median kernel time from its profiler), the
    innermost dimension per layout and whether it is a multiple of the SIMD width, and the
    prediction against the measurement."""

    name: str
    x_shape: tuple[int, ...]
    w_shape: tuple[int, ...]
    stride: int
    depthwise: bool
    kernel: str
    flops: int
    mlxa_ms: dict[str, float]
    torch_ms: dict[str, float]
    ort_ms: dict[str, float]
    innermost: dict[str, int]
    simd_multiple: dict[str, bool]
    predicted: str
    measured: str
    tied: tuple[str, ...]
    agrees: bool
    agrees_strict: bool


@dataclass(frozen=True)
class TransposeRow:
    """A whole model compiled in one layout: relayout nodes inserted, their milliseconds and
    share of the summed node times, and the model's end-to-end milliseconds (median)."""

    layout: str
    relayouts: int
    relayout_ms: float
    share: float
    model_ms: float


@dataclass(frozen=True)
class ModelLayouts:
    model: str
    batch: int
    image: int
    convs: tuple[ConvRow, ...]
    transposes: tuple[TransposeRow, ...]
    agreement: float
    agreement_strict: float
    # convs whose fastest layout beats the others by more than TIE_FRACTION, and the share of
    # them where the prediction names it: agreement where the measurement is not noise-bound
    decisive: int
    agreement_decisive: float


@dataclass(frozen=True)
class LayoutResult(Versioned):
    models: tuple[ModelLayouts, ...]
    simd_floats: int
    block: int
    threads: int
    rule: str
    meta: dict[str, str]
    warnings: tuple[str, ...]
    schema: str = SCHEMA


def predict(x: tuple[int, ...], w: tuple[int, ...], attrs: dict, simd: int) -> str:
    """mlxa's fastest layout for a conv, by PREDICTION_RULE."""
    p = conv_op.plan(x, w, attrs, 4)
    if p.kind == "depthwise":
        return "nhwc" if p.win.out_h * p.win.out_w < x[1] else "nchw"
    if p.kind == "im2col" and x[1] % simd == 0:
        return "nhwc"
    return "nchw"


def innermost(x: tuple[int, ...], block: int) -> dict[str, int]:
    return {"nchw": x[3], "nhwc": x[1], "nchwc": block}


def _verdict(ms: dict[str, float], predicted: str) -> tuple[str, tuple[str, ...], bool, bool]:
    best = min(LAYOUTS, key=lambda k: ms[k])
    tied = tuple(k for k in LAYOUTS if ms[k] <= ms[best] * (1 + TIE_FRACTION))
    return best, tied, predicted in tied, predicted == best


@dataclass(frozen=True)
class Config:
    models: tuple[str, ...]
    batch: int = 1
    image: int = 224
    threads: int = 1
    conv_budget_s: float = 0.5
    block: int = 0
    backends: tuple[str, ...] = ("mlxa", "torch", "ort")



def run_study(config: Config, progress: Progress = no_progress) -> LayoutResult:
    """Every conv of every model; `progress` hears of each conv, per model, between them."""
    from mlxa.models.zoo import build
    from mlxa.session import run_meta

    simd = simd_floats()
    block = config.block or simd
    models = []
    with blas_threads(config.threads):
        for name in config.models:
            graph = build(name, batch=config.batch, image=config.image)
            models.append(_model(name, graph, config, block, simd, progress))
    meta = run_meta()
    info = {"cpu": meta.cpu, "date": meta.date, "command": meta.command,
            "load_average": f"{meta.load_average}", "cpu_count": str(meta.cpu_count)}
    return LayoutResult(tuple(models), simd, block, config.threads, PREDICTION_RULE, info,
                        _warnings(meta.load_average, meta.cpu_count))


def _warnings(load: float | None, cpus: int) -> tuple[str, ...]:
    if load is not None and load > 0.5 * cpus:
        return (f"the machine was busy (load average {load:.1f} on {cpus} CPUs): times are the "
                "best of interleaved rounds, ties within 10% are counted as ties",)
    return ()


def _model(name: str, graph: Graph, config: Config, block: int, simd: int,
           progress: Progress) -> ModelLayouts:
    folded = fold_batch_norm(graph)
    convs = [n for n in folded.nodes if n.op == "conv"]
    cache: dict[tuple, tuple[dict, dict, dict]] = {}
    rows = []
    stage = f"layout, {name} convs"
    progress(stage, 0, len(convs))
    for i, node in enumerate(convs):
        key = (node.inputs[0].shape, node.inputs[1].shape, _attrs_key(node))
        if key not in cache:
            cache[key] = _measure(node, folded, config, block)
        rows.append(_row(node, *cache[key], block, simd))
        progress(stage, i + 1, len(convs))
    transposes = _transposes(graph, config, block)
    agree = float(np.mean([r.agrees for r in rows])) if rows else 0.0
    strict = float(np.mean([r.agrees_strict for r in rows])) if rows else 0.0
    decisive = [r for r in rows if len(r.tied) == 1]
    on_decisive = float(np.mean([r.agrees for r in decisive])) if decisive else 0.0
    return ModelLayouts(name, config.batch, config.image, tuple(rows), transposes, agree, strict,
                        len(decisive), on_decisive)


def _attrs_key(node: Node) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in node.attrs.items()))


def _measure(node: Node, graph: Graph, config: Config,
             block: int) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    x = np.random.default_rng(0).standard_normal(node.inputs[0].shape).astype(np.float32)
    w = np.array(graph.params[node.inputs[1]])
    b = np.array(graph.params[node.inputs[2]]) if len(node.inputs) == 3 else None
    calls = {f"mlxa:{k}": v for k, v in mlxa_conv_calls(x, w, b, node.attrs, block).items()}
    if "torch" in config.backends:
        torch_calls = torch_conv_calls(x, w, b, node.attrs, config.threads) or {}
        calls.update({f"torch:{k}": v for k, v in torch_calls.items()})
    times = interleave(calls, config.conv_budget_s, min_rounds=5)
    ms = {k: t.best_s * 1e3 for k, t in times.items()}
    mlxa = {k.split(":")[1]: v for k, v in ms.items() if k.startswith("mlxa:")}
    torch = {k.split(":")[1]: v for k, v in ms.items() if k.startswith("torch:")}
    ort = (ort_conv_times(x, w, b, node.attrs, config.threads, 10) or {}
           if "ort" in config.backends else {})
    return mlxa, torch, ort


def _row(node: Node, mlxa: dict[str, float], torch: dict[str, float], ort: dict[str, float],
         block: int, simd: int) -> ConvRow:
    x, w = node.inputs[0].shape, node.inputs[1].shape
    attrs = dict(node.attrs)
    kind = conv_op.plan(x, w, attrs, 4).kind
    cost = get_op("conv").cost([v.type for v in node.inputs], [v.type for v in node.outputs],
                               node.attrs)
    inner = innermost(x, block)
    predicted = predict(x, w, attrs, simd)
    measured, tied, agrees, strict = _verdict(mlxa, predicted)
    return ConvRow(node.name, x, w, int(tuple(attrs.get("strides", (1, 1)))[0]),
                   kind == "depthwise", kind, cost.flops, mlxa, torch, ort, inner,
                   {k: v % simd == 0 for k, v in inner.items()}, predicted, measured, tied,
                   agrees, strict)


def _transposes(graph: Graph, config: Config, block: int) -> tuple[TransposeRow, ...]:
    """Each layout's compiled model timed node by node, in turns (profile/node_times.py)."""
    from mlxa.compiler import CompileOptions
    from mlxa.profile.node_times import measure_node_times
    from mlxa.runtime.compiled import compile_model

    # the op table's kernels in every layout: the custom kernels (oneDNN, Numba) are NCHW only
    models = {k: compile_model(graph, CompileOptions(layout=k, layout_block=block, kernels=()))
              for k in LAYOUTS}
    x = np.random.default_rng(0).standard_normal(graph.inputs[0].shape).astype(np.float32)
    times = measure_node_times(models, (x,), budget_s=3 * config.conv_budget_s, min_rounds=3)
    rows = []
    for layout, model in models.items():
        per_call = np.median(times[layout].samples_s, axis=0) * 1e3
        relayout = [i for i, c in enumerate(model.calls) if c.node.op == "relayout"]
        total = float(per_call.sum())
        ms = float(per_call[relayout].sum())
        rows.append(TransposeRow(layout, len(relayout), ms, ms / total if total else 0.0,
                                 times[layout].end_to_end.median_s * 1e3))
    return tuple(rows)
