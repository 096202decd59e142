"""The sparsity case study: what zeros in the weights buy, measured.

  1. pruning (passes/sparsify.py) at levels from 50% to 95% in four patterns: exact zero counts
     and skippable FLOPs, per level and per layer;
  2. per layer shape, the density where a sparse product breaks even with the dense BLAS one:
     CSR (scipy.sparse) and our block-sparse kernel (studies/sparse_kernels.py);
  3. ONNX Runtime, XLA and mlxa on the same model, dense and 90% unstructured-pruned: dense
     kernels multiply zeros like any number, so the times should match;
  4. channel pruning applied physically (passes/prune_channels.py): the model's real speedup,
     eager and compiled, and the check that the smaller model computes what the masked one does;
  5. accuracy against sparsity on digits_cnn (trained weights, pruned without fine-tuning).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mlxa.ir.graph import Graph
from mlxa.ops import get_op
from mlxa.passes.fold_batch_norm import fold_batch_norm
from mlxa.passes.sparsify import (
    BLOCK_ROWS,
    LayerSparsity,
    SparsifySpec,
    layers,
    prune_report,
    sparsify,
)
from mlxa.report.progress import Progress, no_progress
from mlxa.result import Versioned
from mlxa.studies.interleave import blas_threads, interleave
from mlxa.studies.sparse_kernels import (
    BlockSparse,
    Probe,
    break_even,
    csr_call,
    dense_call,
    pruned_weight,
)

SCHEMA = "mlxa.sparsity/1"
LEVELS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
PATTERN_LEVELS = (("unstructured", LEVELS), ("block", LEVELS), ("2:4", (0.5,)),
                  ("channel", LEVELS))


@dataclass(frozen=True)
class LevelRow:
    """One pattern at one level over the whole model: zeros, weights, FLOPs they make
    skippable, and how many layers the pattern fits."""

    pattern: str
    level: float
    zeros: int
    weights: int
    skippable_flops: int
    flops: int
    layers_pruned: int
    layers: int


@dataclass(frozen=True)
class PatternLayers:
    pattern: str
    level: float
    layers: tuple[LayerSparsity, ...]


@dataclass(frozen=True)
class BreakEven:
    """One product shape W[O,K] @ X[K,N], the layers that have it, the dense milliseconds, and
    each sparse kernel's break-even density (None: the pattern does not fit) with its probes."""

    shape: tuple[int, int, int]
    layers: tuple[str, ...]
    dense_ms: float
    csr_density: float | None
    block_density: float | None
    csr_probes: tuple[Probe, ...]
    block_probes: tuple[Probe, ...]


@dataclass(frozen=True)
class RuntimeZeros:
    """One runtime on the model dense and pruned: milliseconds and pruned/dense; the dense model
    timed twice in the same rounds (`dense_again_ms`) gives the run's own noise (A/A)."""

    runtime: str
    dense_ms: float
    pruned_ms: float
    dense_again_ms: float

    @property
    def ratio(self) -> float:
        return self.pruned_ms / self.dense_ms if self.dense_ms else 0.0

    @property
    def noise(self) -> float:
        """dense again / dense: how far apart two timings of the same model land."""
        return self.dense_again_ms / self.dense_ms if self.dense_ms else 0.0


@dataclass(frozen=True)
class ChannelPruning:
    model: str
    level: float
    flops_before: int
    flops_after: int
    params_before: int
    params_after: int
    eager_ms: tuple[float, float]
    compiled_ms: tuple[float, float]
    same_outputs: bool

    @property
    def eager_speedup(self) -> float:
        return self.eager_ms[0] / self.eager_ms[1]

    @property
    def compiled_speedup(self) -> float:
        return self.compiled_ms[0] / self.compiled_ms[1]


@dataclass(frozen=True)
class AccuracyPoint:
    pattern: str
    level: float
    sparsity: float
    top1: float


@dataclass(frozen=True)
class SparsityResult(Versioned):
    model: str
    image: int
    batch: int
    threads: int
    levels: tuple[LevelRow, ...]
    layers: tuple[PatternLayers, ...]
    break_even: tuple[BreakEven, ...]
    runtimes: tuple[RuntimeZeros, ...]
    runtime_level: float
    channel: ChannelPruning
    dense_top1: float
    accuracy: tuple[AccuracyPoint, ...]
    meta: dict[str, str]
    warnings: tuple[str, ...]
    schema: str = SCHEMA


@dataclass(frozen=True)
class Config:
    model: str = "resnet18"
    image: int = 224
    batch: int = 1
    threads: int = 1
    layer_level: float = 0.9
    channel_level: float = 0.5
    probe_budget_s: float = 0.15
    model_budget_s: float = 3.0
    accuracy: bool = True


def graph_flops(graph: Graph) -> int:
    return sum(get_op(n.op).cost([v.type for v in n.inputs], [v.type for v in n.outputs],
                                 n.attrs).flops for n in graph.nodes)


def spec_of(pattern: str, level: float) -> SparsifySpec:
    return SparsifySpec(pattern, 0.5 if pattern == "2:4" else level)


def level_rows(graph: Graph) -> tuple[LevelRow, ...]:
    rows = []
    for pattern, levels in PATTERN_LEVELS:
        for level in levels:
            report = prune_report(sparsify(graph, spec_of(pattern, level)), graph)
            rows.append(LevelRow(pattern, level, sum(r.zeros for r in report),
                                 sum(r.weights for r in report),
                                 sum(r.skippable_flops for r in report),
                                 sum(r.flops for r in report), sum(r.pruned for r in report),
                                 len(report)))
    return tuple(rows)


def layer_tables(graph: Graph, level: float) -> tuple[PatternLayers, ...]:
    tables = []
    for pattern, _ in PATTERN_LEVELS:
        spec = spec_of(pattern, level)
        tables.append(PatternLayers(pattern, spec.level,
                                    prune_report(sparsify(graph, spec), graph)))
    return tuple(tables)


def product_shapes(graph: Graph) -> dict[tuple[int, int, int], list[str]]:
    """W[O,K] @ X[K,N] of every dense (group 1) conv and linear layer, with their names."""
    shapes: dict[tuple[int, int, int], list[str]] = {}
    for _, node in layers(graph):
        w, out = node.inputs[1].shape, node.outputs[0].shape
        if node.op == "conv" and int(node.attrs.get("group", 1)) == 1:
            key = (w[0], int(np.prod(w[1:])), out[0] * out[2] * out[3])
        elif node.op == "gemm":
            key = (out[1], node.inputs[0].shape[1], out[0])
        else:
            continue
        shapes.setdefault(key, []).append(node.name or node.op)
    return shapes


def measure_break_even(shape: tuple[int, int, int], names: list[str],
                       budget_s: float) -> BreakEven:
    o, k, n = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((k, n)).astype(np.float32)
    dense_times: list[float] = []

    def ratio(pattern: str, make: Callable[[np.ndarray], Callable[[], object] | None]
              ) -> Callable[[float], float]:
        def at(density: float) -> float:
            w = pruned_weight((o, k), density, pattern, rng)
            sparse = make(w)
            assert sparse is not None
            t = interleave({"dense": dense_call(w, x), "sparse": sparse}, budget_s, 3, 20)
            dense_times.append(t["dense"].best_s)
            return t["sparse"].best_s / t["dense"].best_s
        return at

    csr = csr_call(np.zeros((1, 1), np.float32), x[:1]) is not None
    csr_d, csr_p = break_even(ratio("unstructured", lambda w: csr_call(w, x))) if csr else (
        None, ())
    block_d, block_p = (break_even(ratio("block", lambda w: BlockSparse.of(w).call(x)))
                        if o % BLOCK_ROWS == 0 else (None, ()))
    return BreakEven(shape, tuple(names), 1e3 * float(np.median(dense_times)), csr_d, block_d,
                     csr_p, block_p)


def run_study(config: Config, progress: Progress = no_progress) -> SparsityResult:
    """`progress` hears of each step (pruning levels, each break-even shape, the runtimes,
    channel pruning), between them."""
    from mlxa.models.zoo import build
    from mlxa.session import run_meta
    from mlxa.studies import sparsity_models as models

    graph = fold_batch_norm(build(config.model, batch=config.batch, image=config.image))
    with blas_threads(config.threads):
        levels, tables = level_rows(graph), layer_tables(graph, config.layer_level)
        shapes = product_shapes(graph)
        total = len(shapes) + 3  # the levels, each shape's break-even, runtimes, channels
        progress("sparsity", 1, total)
        even = []
        for i, (shape, names) in enumerate(shapes.items()):
            even.append(measure_break_even(shape, names, config.probe_budget_s))
            progress("sparsity", 2 + i, total)
        runtimes = models.runtime_zeros(graph, 0.9, config)
        progress("sparsity", total - 1, total)
        channel = models.channel_pruning(config.model, graph, config)
        progress("sparsity", total, total)
    dense_top1, accuracy = models.accuracy_curve() if config.accuracy else (0.0, ())
    meta = run_meta()
    info = {"cpu": meta.cpu, "date": meta.date, "command": meta.command,
            "load_average": f"{meta.load_average}", "cpu_count": str(meta.cpu_count)}
    warnings: tuple[str, ...] = ()
    if meta.load_average is not None and meta.load_average > 0.5 * meta.cpu_count:
        warnings = (f"the machine was busy (load average {meta.load_average:.1f} on "
                    f"{meta.cpu_count} CPUs): times are the best of interleaved rounds",)
    return SparsityResult(config.model, config.image, config.batch, config.threads, levels,
                          tables, tuple(even), runtimes, 0.9, channel, dense_top1, accuracy,
                          info, warnings)
