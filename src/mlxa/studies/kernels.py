"""Custom-kernel case studies: where the op table's numpy composition (and often a compiler)
misses, a kernel of mlxa.kernels against XLA, Inductor and ONNX Runtime on the same IR graph.

Each case is one small graph. Every backend runs it on the same inputs, taking turns
(studies/interleave.py); per backend: the best and median time, the rate against the graph's
compulsory traffic (inputs, weights and outputs once: what a perfectly fused kernel moves) and
its FLOPs (the op table's cost rule), and its error against the float64 reference relative to the
output's scale (oracle.relative_error), with the oracle's bound for the mlxa rows. The
"mlxa + kernels" row runs the kernel itself (no bind-time trial): the question is what it costs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mlxa.errors import UserInputError
from mlxa.ir.builder import GraphBuilder
from mlxa.ir.graph import Graph
from mlxa.ops import get_op
from mlxa.oracle import bound, reference_outputs, relative_error
from mlxa.report.progress import Progress, no_progress
from mlxa.studies import kernels_backends as backends
from mlxa.studies.interleave import blas_threads, interleave

Builder = Callable[[np.random.Generator], tuple[Graph, list[np.ndarray]]]


def _f32(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _conv_act(x: tuple[int, ...], w: tuple[int, ...], act: str, **attrs: Any) -> Builder:
    def build(rng: np.random.Generator) -> tuple[Graph, list[np.ndarray]]:
        g = GraphBuilder(f"conv_{act}")
        xv = g.input(x)
        fan_in = w[1] * w[2] * w[3]
        y = g.op("conv", xv, g.param(_f32(rng, *w, scale=fan_in ** -0.5)),
                 g.param(_f32(rng, w[0], scale=0.1)), **attrs)
        y = g.op("clip", y, min=0.0, max=6.0) if act == "relu6" else g.op("relu", y)
        return g.build(y), [_f32(rng, *x)]
    return build


def _bias_gelu(rows: int, cols: int) -> Builder:
    def build(rng: np.random.Generator) -> tuple[Graph, list[np.ndarray]]:
        g = GraphBuilder("bias_gelu")
        x = g.input((rows, cols))
        y = g.op("gelu", g.op("add", x, g.param(_f32(rng, cols, scale=0.1))),
                 approximate="tanh")
        return g.build(y), [_f32(rng, rows, cols, scale=2.0)]
    return build


def _layer_norm(rows: int, cols: int) -> Builder:
    def build(rng: np.random.Generator) -> tuple[Graph, list[np.ndarray]]:
        g = GraphBuilder("layer_norm")
        x = g.input((rows, cols))
        y = g.op("layer_norm", x, g.param(1 + _f32(rng, cols, scale=0.1)),
                 g.param(_f32(rng, cols, scale=0.1)), axis=-1, epsilon=1e-5)
        return g.build(y), [_f32(rng, rows, cols) + 3.0]
    return build


def _softmax(rows: int, cols: int) -> Builder:
    def build(rng: np.random.Generator) -> tuple[Graph, list[np.ndarray]]:
        g = GraphBuilder("softmax")
        x = g.input((rows, cols))
        return g.build(g.op("softmax", x, axis=-1)), [_f32(rng, rows, cols, scale=3.0)]
    return build


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    build: Builder


CONV3 = {"strides": (1, 1), "pads": (1, 1, 1, 1)}
CASES: dict[str, Case] = {c.name: c for c in (
    Case("depthwise_relu6", "MobileNetV2 depthwise 3x3, 144 ch, 56x56, + bias + ReLU6",
         _conv_act((1, 144, 56, 56), (144, 1, 3, 3), "relu6", group=144, **CONV3)),
    Case("depthwise_s2_relu6", "MobileNetV2 depthwise 3x3 stride 2, 96 ch, 112x112, + ReLU6",
         _conv_act((1, 96, 112, 112), (96, 1, 3, 3), "relu6", group=96, strides=(2, 2),
                   pads=(1, 1, 1, 1))),
    Case("conv3x3_relu", "ResNet 3x3 conv, 64 -> 64 ch, 56x56, + bias + ReLU",
         _conv_act((1, 64, 56, 56), (64, 64, 3, 3), "relu", **CONV3)),
    Case("conv1x1_relu6", "MobileNetV2 expansion 1x1 conv, 24 -> 144 ch, 56x56, + ReLU6",
         _conv_act((1, 24, 56, 56), (144, 24, 1, 1), "relu6")),
    Case("bias_gelu", "bias + tanh-GELU on 256 x 4096 (a transcendental-heavy chain)",
         _bias_gelu(256, 4096)),
    Case("layer_norm", "layer norm over 1024 columns, 512 rows, mean 3 (one pass)",
         _layer_norm(512, 1024)),
    Case("softmax", "softmax over 128 columns, 8 heads x 128 rows (the transformer's)",
         _softmax(1024, 128)),
)}


@dataclass(frozen=True)
class BackendRow:
    """One backend on one case. Times in ms; rates against the case's compulsory bytes and
    FLOPs at the best time; `error` relative to the output's scale (None: did not run);
    `kernel`: the custom kernel mlxa bound, if any; `note`: why a backend did not run."""

    backend: str
    best_ms: float | None = None
    median_ms: float | None = None
    gb_per_s: float | None = None
    gflop_per_s: float | None = None
    error: float | None = None
    kernel: str = ""
    note: str = ""


@dataclass(frozen=True)
class CaseResult:
    name: str
    description: str
    flops: int
    compulsory_nbytes: int
    eager_error: float
    oracle_bound: float
    rows: tuple[BackendRow, ...]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def graph_cost(graph: Graph) -> tuple[int, int]:
    """FLOPs of every node, and the bytes of inputs, weights and outputs (each once)."""
    flops = sum(get_op(n.op).cost([v.type for v in n.inputs], [v.type for v in n.outputs],
                                  n.attrs).flops for n in graph.nodes)
    nbytes = sum(v.nbytes for v in (*graph.inputs, *graph.params, *graph.outputs))
    return flops, nbytes


def case_names(text: str | None) -> list[str]:
    """Case names from a comma list ("all" or None: every case); an unknown one is bad input."""
    if not text or text == "all":
        return list(CASES)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown or not names:
        raise UserInputError(f"unknown kernel case {', '.join(unknown) or repr(text)}; "
                             f"cases: {', '.join(CASES)}")
    return names


def run_cases(names: Sequence[str], threads: int = 1, budget_s: float = 2.0,
              backends_on: Sequence[str] = ("xla", "inductor", "ort"),
              progress: Progress = no_progress) -> list[CaseResult]:
    """run_case for each name; `progress` hears of each case, between them."""
    results: list[CaseResult] = []
    progress("kernel cases", 0, len(names))
    for name in names:
        results.append(run_case(name, threads, budget_s, backends_on=backends_on))
        progress("kernel cases", len(results), len(names))
    return results


def run_case(name: str, threads: int = 1, budget_s: float = 2.0, seed: int = 0,
             backends_on: Sequence[str] = ("xla", "inductor", "ort")) -> CaseResult:
    case = CASES[name]
    graph, inputs = case.build(np.random.default_rng(seed))
    ref = reference_outputs(graph, inputs)[0]
    runners, kernels, notes = _mlxa_runners(graph, inputs)
    for b in backends_on:
        try:
            runners[b] = getattr(backends, b)(graph, inputs, threads)
        except backends.Unavailable as e:
            notes[b] = str(e)
    with blas_threads(threads):
        times = interleave({k: r[0] for k, r in runners.items()}, budget_s)
    flops, nbytes = graph_cost(graph)
    eager_err = relative_error(runners["mlxa eager"][1](), ref)
    rows = [_row(k, times[k].best_s, times[k].median_s, flops, nbytes,
                 relative_error(r[1](), ref), kernels.get(k, "")) for k, r in runners.items()]
    rows += [BackendRow(k, note=v) for k, v in notes.items()]
    return CaseResult(name, case.description, flops, nbytes, eager_err,
                      bound(eager_err, np.float32), tuple(rows))


def _row(backend: str, best_s: float, median_s: float, flops: int, nbytes: int, error: float,
         kernel: str) -> BackendRow:
    return BackendRow(backend, best_s * 1e3, median_s * 1e3, nbytes / best_s / 1e9,
                      flops / best_s / 1e9, error, kernel)


def _mlxa_runners(graph: Graph, inputs: list[np.ndarray]
                  ) -> tuple[dict[str, backends.Runner], dict[str, str], dict[str, str]]:
    from mlxa.compiler import CompileOptions
    from mlxa.runtime.compiled import compile_model
    from mlxa.runtime.eager import EagerModel

    eager = EagerModel(graph)
    plain = compile_model(graph, CompileOptions(kernels=()))
    from mlxa.kernels.trial import forced

    with forced():  # the kernel itself, whatever a bind-time trial would keep
        custom = compile_model(graph, CompileOptions(kernels=("all",)))
    out: dict[str, Any] = {}
    runners: dict[str, backends.Runner] = {
        "mlxa eager": (lambda: out.__setitem__("e", eager(*inputs)), lambda: out["e"][0]),
        "mlxa compiled": (lambda: plain(*inputs), lambda: plain(*inputs)[0].copy()),
        "mlxa + kernels": (lambda: custom(*inputs), lambda: custom(*inputs)[0].copy()),
    }
    chosen = "; ".join(custom.kernel_lines())
    notes: dict[str, str] = {}
    if not chosen:
        notes["mlxa + kernels"] = "no custom kernel applies here (numba or torch missing?)"
        del runners["mlxa + kernels"]
    kernels = {"mlxa + kernels": chosen}
    if any(n.op == "conv" for n in graph.nodes):  # the numpy epilogue alone, beside oneDNN's
        epi = compile_model(graph, CompileOptions(kernels=("epilogue",)))
        runners["mlxa + epilogue"] = (lambda: epi(*inputs), lambda: epi(*inputs)[0].copy())
        kernels["mlxa + epilogue"] = "; ".join(epi.kernel_plan.describe(epi.program.graph))
    if graph.name == "bias_gelu":
        _add_libm(graph, inputs, runners, notes)
    return runners, kernels, notes


def _add_libm(graph: Graph, inputs: list[np.ndarray], runners: dict[str, backends.Runner],
              notes: dict[str, str]) -> None:
    """The naive Numba fusion of bias + GELU through libm's scalar tanhf, for contrast."""
    try:
        from mlxa.kernels import jit_loops
    except ImportError:
        notes["numba libm tanh"] = "numba is not installed"
        return
    x, b = inputs[0], next(iter(graph.params.values()))
    y = np.empty_like(x)
    runners["numba libm tanh"] = (lambda: jit_loops.bias_gelu_libm(x, b, y), lambda: y)
