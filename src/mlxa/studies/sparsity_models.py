"""The sparsity study's whole-model measurements (studies/sparsity.py): runtimes on dense vs
pruned weights, channel pruning's real speedup, and accuracy against sparsity on digits_cnn."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mlxa.ir.graph import Graph
from mlxa.passes.prune_channels import prune_channels, zero_channels
from mlxa.passes.sparsify import SparsifySpec, prune_report, sparsify
from mlxa.studies.interleave import interleave
from mlxa.studies.sparsity import (
    PATTERN_LEVELS,
    AccuracyPoint,
    ChannelPruning,
    Config,
    RuntimeZeros,
    graph_flops,
    spec_of,
)


def _input(graph: Graph) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(graph.inputs[0].shape).astype(np.float32)


def _runners(graph: Graph, x: np.ndarray, threads: int) -> dict[str, Callable[[], object]]:
    """mlxa compiled, ONNX Runtime and XLA on the graph; a runtime that is missing is left out."""
    from mlxa.compare.ort import ort_runner
    from mlxa.compiler import CompileOptions
    from mlxa.runtime.compiled import compile_model

    model = compile_model(graph, CompileOptions())
    runners: dict[str, Callable[[], object]] = {"mlxa": lambda: model(x)}
    ort = ort_runner(graph, (x,), threads)
    if ort is not None:
        runners["ort"] = ort
    from mlxa.compare.xla import single_thread_xla

    single_thread_xla(threads)
    try:
        from mlxa.compare.xla import compile_xla

        compiled = compile_xla(graph, (x,))
        runners["xla"] = lambda: [o.block_until_ready() for o in compiled(x)]
    except ImportError:
        pass
    return runners


def runtime_zeros(graph: Graph, level: float, config: Config) -> tuple[RuntimeZeros, ...]:
    """Each runtime on the dense and the unstructured-pruned model, all taking turns."""
    x = _input(graph)
    pruned = sparsify(graph, SparsifySpec("unstructured", level))
    dense = _runners(graph, x, config.threads)
    calls = {f"dense:{k}": v for k, v in dense.items()}
    calls.update({f"pruned:{k}": v for k, v in _runners(pruned, x, config.threads).items()})
    calls.update({f"again:{k}": v for k, v in dense.items()})
    t = interleave(calls, config.model_budget_s, min_rounds=5)
    return tuple(RuntimeZeros(k, t[f"dense:{k}"].best_s * 1e3, t[f"pruned:{k}"].best_s * 1e3,
                              t[f"again:{k}"].best_s * 1e3) for k in dense)


def channel_pruning(name: str, graph: Graph, config: Config) -> ChannelPruning:
    """The physically pruned model against the dense one, eager and compiled, taking turns; the
    pruned model's outputs judged by the oracle against the masked (zeroed) model's."""
    from mlxa.oracle import check
    from mlxa.runtime.compiled import compile_model
    from mlxa.runtime.eager import EagerModel

    level = config.channel_level
    small = prune_channels(graph, level)
    x = _input(graph)
    masked = zero_channels(graph, level)
    verdict = check(masked, [x], EagerModel(masked)(x), EagerModel(small)(x))
    big_c, small_c = compile_model(graph), compile_model(small)
    big_e, small_e = EagerModel(graph), EagerModel(small)
    t = interleave({"eager": lambda: big_e(x), "eager_pruned": lambda: small_e(x),
                    "compiled": lambda: big_c(x), "compiled_pruned": lambda: small_c(x)},
                   config.model_budget_s, min_rounds=5)
    ms = {k: v.best_s * 1e3 for k, v in t.items()}
    return ChannelPruning(name, level, graph_flops(graph), graph_flops(small),
                          sum(a.size for a in graph.params.values()),
                          sum(a.size for a in small.params.values()),
                          (ms["eager"], ms["eager_pruned"]),
                          (ms["compiled"], ms["compiled_pruned"]), verdict.passed)


def accuracy_curve() -> tuple[float, tuple[AccuracyPoint, ...]]:
    """Top-1 on digits_cnn's held-out quarter, dense and pruned in each pattern and level
    (no fine-tuning). (0.0, ()) without scikit-learn."""
    from mlxa.models.digits_cnn import digits_cnn, digits_split
    from mlxa.runtime.eager import EagerModel

    try:
        _, _, images, labels = digits_split()
    except ImportError:
        return 0.0, ()
    graph = digits_cnn(batch=len(images))

    def top1(g: Graph) -> float:
        return float(np.mean(np.argmax(EagerModel(g)(images)[0], axis=1) == labels))

    points = []
    for pattern, levels in PATTERN_LEVELS:
        for level in levels:
            pruned = sparsify(graph, spec_of(pattern, level))
            report = prune_report(pruned)
            sparsity = sum(r.zeros for r in report) / sum(r.weights for r in report)
            points.append(AccuracyPoint(pattern, level, sparsity, top1(pruned)))
    return top1(graph), tuple(points)
