"""The quantization study: one model, FP32 and INT8 side by side, as typed data.

`study(graph, name, settings, calibration, evaluation)` compiles the model twice (as it is, and
with the quantize pass and its integer lowering), exports both to ONNX with ONNX Runtime's own
`quantize_static` result as the anchor, and measures: size (exact bytes of weights, scales, zero
points and biases), arena bytes, latency (mlxa's executor and ONNX Runtime, interleaved turns),
accuracy (SQNR per layer and at the output, top-1 agreement with FP32, top-1 on labels when
given), coverage (the share of FLOPs in integer kernels, and each op left in float with the
reason), and where the latency moved per op kind. Pathologies are flagged from the figures
(studies/quantization_flags.py). Renderers: report/quantization_text.py, quantization_plot.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlxa.compiler import CompiledProgram, CompileOptions, compile_program
from mlxa.ir.graph import Graph, Value
from mlxa.ops import get_op
from mlxa.oracle import judge_quantized, reference_outputs, sqnr_db
from mlxa.passes.fold_batch_norm import fold_batch_norm
from mlxa.passes.quantize import CLAMPS, QuantizeSpec, quantize_qdq
from mlxa.planners.registry import HEURISTICS
from mlxa.profile.latency import LatencyStats, measure_interleaved
from mlxa.report.progress import Progress, no_progress
from mlxa.runtime.compiled import CompiledModel
from mlxa.runtime.eager import EagerModel

SCHEMA = "mlxa.quantize/1"
INT_OPS = ("qlinear_conv", "qlinear_matmul", "qlinear_add")
QDQ_OPS = ("quantize_linear", "dequantize_linear")
FLOAT_REASONS = {
    "quantize_linear": "the boundary into 8 bits",
    "dequantize_linear": "the boundary back to float",
    "conv": "weight or bias not a constant",
    "gemm": "not plain (transA, alpha, beta) or weight not a constant",
    "matmul": "b not a constant 2-D matrix",
}
DEFAULT_REASON = "no integer kernel in mlxa: runs in float between dequantize and quantize"


@dataclass(frozen=True)
class Settings:
    calibration: str = "minmax"
    activations: str = "u8"
    rounding: str = "fixed_point"
    threads: int = 1
    budget_s: float = 4.0
    ort: bool = True
    dynamic: bool = False


@dataclass(frozen=True)
class Size:
    """Exact parameter bytes. INT8 = 8-bit weights + scales and zero points + int32 biases +
    the params left float. ONNX files: the serialized models' bytes."""

    fp32_nbytes: int
    int8_weight_nbytes: int
    int8_scale_nbytes: int
    int8_bias_nbytes: int
    int8_float_nbytes: int
    onnx_nbytes: Mapping[str, int] = field(default_factory=dict)

    @property
    def int8_nbytes(self) -> int:
        return (self.int8_weight_nbytes + self.int8_scale_nbytes + self.int8_bias_nbytes
                + self.int8_float_nbytes)

    @property
    def ratio(self) -> float:
        return self.fp32_nbytes / self.int8_nbytes


@dataclass(frozen=True)
class Arena:
    """The compiled arena (values and kernels' scratch) and the values alone (the best
    heuristic plan of the value buffers), FP32 and INT8."""

    fp32_arena_nbytes: int
    int8_arena_nbytes: int
    fp32_values_nbytes: int
    int8_values_nbytes: int


@dataclass(frozen=True)
class Layer:
    name: str
    op: str
    sqnr_db: float


@dataclass(frozen=True)
class Accuracy:
    """SQNR = 10 log10(sum ref^2 / sum (y - ref)^2) against the FP32 output of the same
    runtime; agreement: the share of inputs whose top-1 class is FP32's; task: top-1 on labels.
    verdicts: each quantized column judged by the oracle's quantized rule (its SQNR against the
    float64 reference over all inputs, oracle.judge_quantized), as JSON."""

    inputs: int
    output_sqnr_db: Mapping[str, float]
    top1_agreement: Mapping[str, float]
    task_top1: Mapping[str, float]
    layers: tuple[Layer, ...]
    verdicts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FloatOp:
    op: str
    count: int
    flops: int
    reason: str


@dataclass(frozen=True)
class Coverage:
    int_flops: int
    total_flops: int
    float_ops: tuple[FloatOp, ...]

    @property
    def share(self) -> float:
        return self.int_flops / self.total_flops if self.total_flops else 0.0


@dataclass(frozen=True)
class OpTime:
    kind: str
    fp32_ms: float
    int8_ms: float


@dataclass(frozen=True)
class Study:
    model: str
    input_shape: tuple[int, ...]
    settings: Settings
    calibration_batches: int
    size: Size
    arena: Arena
    latency_ms: Mapping[str, float]
    latency_repeat: int
    accuracy: Accuracy
    coverage: Coverage
    attribution: tuple[OpTime, ...]
    ort_attribution: tuple[OpTime, ...]
    ort_ops_left: Mapping[str, Mapping[str, int]]
    ort_failures: Mapping[str, str] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    linear_flops: int = 0  # the conv, gemm and matmul nodes' FLOPs (the roofs' work)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["size"].update(int8_nbytes=self.size.int8_nbytes, ratio=self.size.ratio)
        data["coverage"]["share"] = self.coverage.share
        return data


# -- the study -----------------------------------------------------------------------------------

def study(graph: Graph, name: str, settings: Settings,
          calibration: Sequence[tuple[np.ndarray, ...]],
          evaluation: Sequence[tuple[np.ndarray, ...]],
          labels: Sequence[int] | None = None, progress: Progress = no_progress) -> Study:
    """`progress` hears of four steps, between them: compiling FP32 and INT8, the ONNX Runtime
    models, the latency, the accuracy and attribution."""
    from mlxa.studies.quantization_flags import flags

    stage = f"quantize {name}"

    spec = QuantizeSpec(tuple(calibration), settings.calibration, settings.activations,
                        rounding=settings.rounding)
    # the op table's kernels on both sides: the custom kernels have no INT8 counterparts
    fp32 = compile_program(graph, CompileOptions(kernels=()))
    int8 = compile_program(graph, CompileOptions(quantize=spec, kernels=()))
    progress(stage, 1, 4)
    onnx_models, failures = _onnx_models(graph, spec, settings) if settings.ort else ({}, {})
    progress(stage, 2, 4)
    runners = _runners(fp32, int8, onnx_models, evaluation[0], settings.threads)
    # mlxa's pair and ONNX Runtime's take turns within their group: interleaving a microsecond
    # ORT call with a Python-heavy mlxa call charged the ORT call for the caches mlxa left cold
    groups = [{k: r for k, r in runners.items() if k.startswith(side)} for side in ("mlxa", "ort")]
    stats: dict[str, LatencyStats] = {}
    for group in (g for g in groups if g):
        stats.update(measure_interleaved(group, warmup=2, repeat=None,
                                         budget_s=settings.budget_s / len(groups)))
    progress(stage, 3, 4)
    result = Study(
        model=name, input_shape=graph.inputs[0].shape, settings=settings,
        calibration_batches=len(calibration), size=size(graph, int8.graph, onnx_models),
        arena=arena(fp32, int8), latency_ms={k: s.median_ms for k, s in stats.items()},
        latency_repeat=min(s.repeat for s in stats.values()),
        accuracy=accuracy(graph, int8, onnx_models, evaluation, labels, settings.threads),
        coverage=coverage(int8.graph), attribution=attribution(fp32, int8, evaluation[0]),
        ort_attribution=_ort_attribution(onnx_models, evaluation[0], settings.threads),
        ort_ops_left=_ops_left(onnx_models, settings.threads), ort_failures=failures,
        linear_flops=linear_flops(graph))
    progress(stage, 4, 4)
    return dataclasses.replace(result, flags=flags(result, onnx_models))


def _onnx_models(graph: Graph, spec: QuantizeSpec, settings: Settings
                 ) -> tuple[dict[str, Any], dict[str, str]]:
    """FP32 (batch norm folded, as both quantizers see it), mlxa's QDQ form, ORT's
    quantize_static of the FP32 model, and (when asked) ORT's quantize_dynamic; and, for each
    ONNX Runtime could not quantize or load, its one-line error (the column is left out)."""
    from mlxa.frontends.onnx_export import to_onnx
    from mlxa.studies import quantization_ort as ort

    folded = fold_batch_norm(graph)
    fp32 = ort.portable(to_onnx(folded))
    makers: dict[str, Callable[[], Any]] = {
        "ort_fp32": lambda: fp32,
        "ort_mlxa_qdq": lambda: ort.portable(to_onnx(quantize_qdq(folded, spec))),
        "ort_quantize_static": lambda: ort.quantize_static(fp32, spec.batches,
                                                           settings.activations)}
    if settings.dynamic:
        makers["ort_dynamic"] = lambda: ort.quantize_dynamic(fp32)
    models, failures = {}, {}
    for key, make in makers.items():
        try:
            model = make()
            ort.session(model, settings.threads)  # loads, or says why not
            models[key] = model
        except Exception as e:  # ONNX Runtime's own quantizer or loader refused: report it
            failures[key] = " ".join(f"{type(e).__name__}: {e}".split())[:300]
    if "ort_fp32" not in models:
        return {}, failures
    return models, failures


def _runners(fp32: CompiledProgram, int8: CompiledProgram, onnx_models: Mapping[str, Any],
             inputs: tuple[np.ndarray, ...], threads: int) -> dict[str, Callable[[], Any]]:
    from mlxa.studies import quantization_ort as ort

    a, b = CompiledModel(fp32), CompiledModel(int8)
    runners: dict[str, Callable[[], Any]] = {"mlxa_fp32": lambda: a(*inputs),
                                             "mlxa_int8": lambda: b(*inputs)}
    for key, model in onnx_models.items():
        runners[key] = ort.runner(ort.session(model, threads), inputs)
    return runners


# -- size and arena ------------------------------------------------------------------------------

def size(graph: Graph, int8: Graph, onnx_models: Mapping[str, Any]) -> Size:
    weights = scales = biases = floats = 0
    roles = _param_roles(int8)
    for v, a in int8.params.items():
        role = roles.get(v, "float")
        n = int(a.nbytes)
        if role == "weight":
            weights += n
        elif role == "bias":
            biases += n
        elif role == "scale":
            scales += n
        else:
            floats += n
    onnx_bytes = {k: len(m.SerializeToString()) for k, m in onnx_models.items()}
    return Size(graph.param_nbytes, weights, scales, biases, floats, onnx_bytes)


def _param_roles(graph: Graph) -> dict[Value, str]:
    """What each param of the integer graph is: 8-bit weight, int32 bias, scale or zero point."""
    roles: dict[Value, str] = {}
    for node in graph.nodes:
        if node.op in INT_OPS:
            for k, v in enumerate(node.inputs):
                roles[v] = "weight" if k == 3 else "bias" if k == 8 else "scale" if k else "x"
        elif node.op in QDQ_OPS:
            roles.setdefault(node.inputs[1], "scale")
            roles.setdefault(node.inputs[2], "scale")
    return roles


def arena(fp32: CompiledProgram, int8: CompiledProgram) -> Arena:
    return Arena(fp32.plan.arena_nbytes, int8.plan.arena_nbytes, _values_arena(fp32),
                 _values_arena(int8))


def _values_arena(program: CompiledProgram) -> int:
    buffers = program.assignment.arena_buffers
    align = program.options.alignment
    return min(planner(buffers, align).arena_nbytes for planner in HEURISTICS.values())


# -- accuracy ------------------------------------------------------------------------------------

def accuracy(graph: Graph, int8: CompiledProgram, onnx_models: Mapping[str, Any],
             evaluation: Sequence[tuple[np.ndarray, ...]], labels: Sequence[int] | None,
             threads: int) -> Accuracy:
    outputs = {"mlxa_fp32": _outputs(EagerModel(graph), evaluation),
               "mlxa_int8": _outputs(_copying(CompiledModel(int8)), evaluation)}
    if onnx_models:
        from mlxa.studies import quantization_ort as ort

        for key, model in onnx_models.items():
            sess = ort.session(model, threads)
            outputs[key] = np.concatenate([ort.runner(sess, x)()[0] for x in evaluation])
    refs = {k: outputs["ort_fp32" if k.startswith("ort") else "mlxa_fp32"] for k in outputs}
    quantized = [k for k in outputs if k not in ("mlxa_fp32", "ort_fp32")]
    agree = {k: float(np.mean(outputs[k].argmax(-1) == refs[k].argmax(-1))) for k in quantized}
    task = ({k: float(np.mean(y.argmax(-1) == np.asarray(labels))) for k, y in outputs.items()}
            if labels is not None else {})
    reference = np.concatenate([reference_outputs(graph, x)[0].ravel() for x in evaluation])
    verdicts = {k: judge_quantized([reference], [outputs[k].ravel()]).to_json()
                for k in quantized}
    return Accuracy(len(evaluation), {k: sqnr_db(refs[k], outputs[k]) for k in quantized},
                    agree, task, layers(graph, int8.graph, evaluation[:4]), verdicts)


def _copying(model: CompiledModel) -> Callable[..., tuple[np.ndarray, ...]]:
    return lambda *xs: tuple(y.copy() for y in model(*xs))


def _outputs(model: Callable[..., tuple[np.ndarray, ...]],
             evaluation: Sequence[tuple[np.ndarray, ...]]) -> np.ndarray:
    return np.concatenate([model(*x)[0].reshape(x[0].shape[0], -1) for x in evaluation])


def values(graph: Graph, inputs: Sequence[np.ndarray]) -> dict[Value, np.ndarray]:
    """Every value of one run (the float graph's intermediates, for per-layer SQNR)."""
    env: dict[Value, np.ndarray] = dict(graph.params)
    env.update(zip(graph.inputs, inputs))
    for node in graph.nodes:
        env.update(zip(node.outputs, get_op(node.op).kernel([env[v] for v in node.inputs], None,
                                                           node.attrs)))
    return env


def layers(graph: Graph, int8: Graph, evaluation: Sequence[tuple[np.ndarray, ...]]
           ) -> tuple[Layer, ...]:
    """SQNR of each integer op's dequantized output against the float graph's value at the same
    place (the op of the same name, after the relu or clip it absorbed), errors accumulated
    from the input, over the given inputs."""
    folded = fold_batch_norm(graph)
    consumers = folded.consumers()
    # the float op an integer op replaced (a named bias add shares its linear's name)
    by_name = {n.name: n for n in folded.nodes if n.name and n.op in ("conv", "gemm", "matmul")}
    pairs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for x in evaluation:
        ref_env, int_env = values(folded, x), values(int8, x)
        for node in int8.nodes:
            twin = by_name.get(node.name)
            if node.op not in ("qlinear_conv", "qlinear_matmul") or twin is None:
                continue
            users = consumers.get(twin.output, [])
            ref_v = users[0].output if len(users) == 1 and users[0].op in CLAMPS else twin.output
            scale, zero = (int8.params[v] for v in node.inputs[6:8])
            deq = (int_env[node.output].astype(np.float32) - zero) * scale
            pairs.setdefault(node.name, []).append((ref_env[ref_v], deq))
    ops = {n.name: n.op for n in int8.nodes}
    return tuple(Layer(name, ops[name], sqnr_db(np.concatenate([r.ravel() for r, _ in p]),
                                                np.concatenate([d.ravel() for _, d in p])))
                 for name, p in pairs.items())


# -- coverage and attribution ---------------------------------------------------------------------

def coverage(int8: Graph) -> Coverage:
    int_flops = total = 0
    floats: dict[str, list[int]] = {}
    for node in int8.nodes:
        op = get_op(node.op)
        flops = op.cost([v.type for v in node.inputs], [v.type for v in node.outputs],
                        node.attrs).flops
        total += flops
        if node.op in INT_OPS or (node.op not in QDQ_OPS and _eight_bit(node)):
            int_flops += flops  # a max_pool or flatten on 8-bit values is integer work too
        else:
            entry = floats.setdefault(node.op, [0, 0])
            entry[0] += 1
            entry[1] += flops
    float_ops = tuple(FloatOp(op, c, f, FLOAT_REASONS.get(op, DEFAULT_REASON))
                      for op, (c, f) in sorted(floats.items(), key=lambda kv: -kv[1][1]))
    return Coverage(int_flops, total, float_ops)


def linear_flops(graph: Graph) -> int:
    """FLOPs of the conv, gemm and matmul nodes: the work the FP32 and INT8 roofs bound."""
    return sum(get_op(n.op).cost([v.type for v in n.inputs], [v.type for v in n.outputs],
                                 n.attrs).flops
               for n in graph.nodes if n.op in ("conv", "gemm", "matmul"))


def _eight_bit(node: Any) -> bool:
    return all(v.dtype in (np.int8, np.uint8) for v in (*node.inputs[:1], *node.outputs))


def op_kind(op: str) -> str:
    """One name per kind of work, mlxa's and ONNX Runtime's ops alike."""
    low = op.lower().replace("_", "")
    if low in ("quantizelinear", "dequantizelinear", "dynamicquantizelinear"):
        return "quantize/dequantize"
    for prefix in ("qlinear", "fused", "nhwc", "q"):
        if low.startswith(prefix) and len(low) > len(prefix):
            low = low[len(prefix):]
            break
    if low in ("gemm", "matmul", "matmulinteger"):
        return "gemm/matmul"
    if low in ("conv", "convinteger"):
        return "conv"
    return {"fused": "fused elementwise", "globalaveragepool": "globalavgpool"}.get(low, low)


def attribution(fp32: CompiledProgram, int8: CompiledProgram,
                inputs: tuple[np.ndarray, ...], runs: int = 3) -> tuple[OpTime, ...]:
    """mlxa's per-node times (median of `runs`), summed by op kind, FP32 beside INT8."""
    sides = [_kind_ms(CompiledModel(p), inputs, runs) for p in (fp32, int8)]
    return merge_kinds(*sides)


def _kind_ms(model: CompiledModel, inputs: tuple[np.ndarray, ...], runs: int
             ) -> dict[str, float]:
    times = np.median([model.time_nodes(*inputs) for _ in range(runs)], axis=0)
    kinds: dict[str, float] = {}
    for call, t in zip(model.calls, times):
        kind = op_kind(call.node.op)
        kinds[kind] = kinds.get(kind, 0.0) + float(t) * 1e3
    return kinds


def merge_kinds(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[OpTime, ...]:
    kinds = sorted(set(a) | set(b), key=lambda k: -(a.get(k, 0.0) + b.get(k, 0.0)))
    return tuple(OpTime(k, a.get(k, 0.0), b.get(k, 0.0)) for k in kinds)


def _ort_attribution(onnx_models: Mapping[str, Any], inputs: tuple[np.ndarray, ...],
                     threads: int) -> tuple[OpTime, ...]:
    if not onnx_models:
        return ()
    from mlxa.studies import quantization_ort as ort

    if "ort_quantize_static" not in onnx_models:
        return ()
    sides = []
    for key in ("ort_fp32", "ort_quantize_static"):
        by_op = ort.profile_by_op(onnx_models[key], inputs, runs=5, threads=threads)
        kinds: dict[str, float] = {}
        for op, ms in by_op.items():
            kinds[op_kind(op)] = kinds.get(op_kind(op), 0.0) + ms
        sides.append(kinds)
    return merge_kinds(*sides)


def _ops_left(onnx_models: Mapping[str, Any], threads: int) -> dict[str, dict[str, int]]:
    from mlxa.studies import quantization_ort as ort

    return {k: ort.optimized_op_counts(m, threads) for k, m in onnx_models.items()
            if k != "ort_fp32"}
