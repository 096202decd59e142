"""A run of `mlxa analyze` as typed data: what was run, what was measured, what was decided.

Renderers (report/) take a RunResult; `to_json` / `from_json` round-trip it exactly, so a saved
run renders again. Every number's field names its unit (`_ms`, `_nbytes`, `_ratio`, `_pct`,
`flops`, `_count`). The schema is versioned: SCHEMA changes when a field changes meaning or goes;
README's "The run result" section lists the fields.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self, cast

from mlxa.oracle import Verdict

SCHEMA = "mlxa.run/2"


@dataclass(frozen=True)
class Meta:
    """The machine and software the run measured, and when."""

    mlxa_version: str
    python_version: str
    numpy_version: str
    blas: dict[str, Any]
    cpu: str
    cpu_count: int
    platform: str
    date: str
    command: str
    load_average: float | None = None
    cpu_flags: tuple[str, ...] = ()  # the instruction-set flags that matter to kernels (SIMD)


@dataclass(frozen=True)
class NodeCost:
    index: int
    op: str
    shape: tuple[int, ...]
    flops: int
    read_nbytes: int
    written_nbytes: int


@dataclass(frozen=True)
class ModelInfo:
    """What a model source says of its model, beyond the graph (cli/model_sources.py)."""

    name: str
    description: str
    batch: int | None = None
    seed: int | None = None
    weights: str = ""
    input_source: str = ""
    input_values: tuple[float, ...] | None = None
    input_width: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ModelSummary(ModelInfo):
    """The source's description and the graph's facts: types, sizes, work."""

    graph: str
    inputs: tuple[str, ...]  # printed types, e.g. f32[32,1024]
    nodes: int
    params: int
    param_nbytes: int
    flops: int
    read_nbytes: int
    written_nbytes: int
    ops: tuple[NodeCost, ...] = ()


@dataclass(frozen=True)
class RunConfig:
    mode: str = "both"
    planner: str = "best"
    warmup: int = 1
    repeat: int | None = None  # None: as many as the time budget allows
    budget_s: float = 3.0
    per_op: bool = False
    threads: int | None = None
    # custom kernels the compiled executor may bind (CompileOptions.kernels); () none
    kernels: tuple[str, ...] = ("all",)


@dataclass(frozen=True)
class Latency:
    """Per-inference latency over `repeat` timed calls (taking turns with the other executor)."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    min_ms: float
    repeat: int
    warmup: int


@dataclass(frozen=True)
class MemoryFigures:
    peak_traced_nbytes: int
    allocations_per_inference: int
    allocated_nbytes_per_inference: int


@dataclass(frozen=True)
class NodeTime:
    """One node (or fused group) timed over the repeats; `share_pct` of the sum of node times."""

    index: int
    name: str
    op: str
    shape: tuple[int, ...]
    median_ms: float
    share_pct: float
    flops: int
    moved_nbytes: int


@dataclass(frozen=True)
class PerOp:
    nodes: tuple[NodeTime, ...]
    sum_ms: float  # the sum of the node medians
    end_to_end_ms: float  # the median inference, timed whole
    timer_overhead_ms: float  # two clock readings back to back, subtracted from each node
    repeat: int


@dataclass(frozen=True)
class Execution:
    latency: Latency
    memory: MemoryFigures
    per_op: PerOp | None = None


@dataclass(frozen=True)
class PlannedBuffer:
    start_index: int
    end_index: int
    size_nbytes: int
    offset_nbytes: int
    kind: str


@dataclass(frozen=True)
class CompiledNode:
    """One node of the compiled graph, for pictures of it. `producer_index`: the steps whose
    outputs it reads (graph inputs and parameters left out); `chain`: a fused node's ops joined by
    '>' ("" otherwise); its first output lives over [start_index, end_index) at `offset_nbytes`
    in the arena, or outside it (`offset_nbytes` None: a graph output); `shares_input`: it writes
    into an input's buffer (in place, or a view)."""

    index: int
    name: str
    op: str
    shape: tuple[int, ...]
    producer_index: tuple[int, ...]
    chain: str
    size_nbytes: int
    start_index: int
    end_index: int
    offset_nbytes: int | None
    shares_input: bool = False


@dataclass(frozen=True)
class PassTime:
    name: str
    time_ms: float
    nodes_before: int
    nodes_after: int


@dataclass(frozen=True)
class PlanSummary:
    planner: str
    winning_strategy: str
    arena_nbytes: int
    lower_bound_nbytes: int
    bound_steps_nbytes: tuple[tuple[str, int], ...]
    planners_arena_nbytes: dict[str, int]
    workspace_nbytes: int
    io_buffers_nbytes: int
    footprint_nbytes: int
    fusion_groups: tuple[str, ...]
    inplace_ops: int
    alignment_nbytes: int
    passes: tuple[PassTime, ...]
    buffers: tuple[PlannedBuffer, ...]
    compile_ms: float = 0.0
    nodes: tuple[CompiledNode, ...] = ()  # the compiled graph in program order
    # nodes bound by a custom kernel: "%3 conv -> depthwise_act (+ clip %4)", "[ran numpy]"
    # where the bind-time trial kept the op table's call
    kernels: tuple[str, ...] = ()


@dataclass(frozen=True)
class MemoryComparison:
    compares: str
    baseline_nbytes: int
    optimized_nbytes: int
    reduction_pct: float  # negative: the optimized run holds more
    allocated_per_inference_reduction_pct: float


@dataclass(frozen=True)
class Comparison:
    speedup_ratio: float  # eager median / optimized median
    speedup_low_ratio: float  # 95% bootstrap interval of that ratio
    speedup_high_ratio: float
    memory: MemoryComparison
    correctness: Verdict


class Versioned:
    """Typed data tagged with its schema: a dataclass whose `schema` field's default names its
    version. to_json and from_json round-trip it; data of another schema is refused."""

    def to_json(self) -> dict[str, Any]:
        return to_json(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        want = next(f.default for f in dataclasses.fields(cls)  # type: ignore[arg-type]
                    if f.name == "schema")
        if data.get("schema") != want:
            raise ValueError(f"not {want} data (schema {data.get('schema')!r})")
        return cast(Self, from_json(cls, data))


@dataclass(frozen=True)
class RunResult(Versioned):
    meta: Meta
    model: ModelSummary
    config: RunConfig
    baseline: Execution | None = None
    optimized: Execution | None = None
    plan: PlanSummary | None = None
    comparison: Comparison | None = None
    warnings: tuple[str, ...] = ()
    schema: str = SCHEMA


def to_json(obj: Any) -> Any:
    """Dataclasses as dicts, tuples as lists, an infinite or NaN float as None (JSON has none);
    everything else as is."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_json(x) for x in obj]
    if isinstance(obj, dict):
        return {k: to_json(v) for k, v in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def from_json(cls: Any, data: Any) -> Any:
    """The inverse of to_json, led by the type hints of `cls`."""
    origin = typing.get_origin(cls)
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        return cls(**{f.name: from_json(hints[f.name], data[f.name])  # type: ignore[operator]
                      for f in dataclasses.fields(cls) if f.name in data})
    if origin in (typing.Union, types.UnionType):
        if data is None:
            return None
        (inner,) = [a for a in typing.get_args(cls) if a is not type(None)]
        return from_json(inner, data)
    if origin is tuple:
        args = typing.get_args(cls)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_json(args[0], x) for x in data)
        return tuple(from_json(a, x) for a, x in zip(args, data))
    if origin is dict:
        _, value_type = typing.get_args(cls)
        return {k: from_json(value_type, v) for k, v in data.items()}
    if cls is float:
        return math.inf if data is None else float(data)
    return data
