"""One analysis run of a model: compiled once, run eager and compiled, measured, judged, as one
typed RunResult (result.py). Measuring is separate from rendering (report/), so a saved run can
be rendered again.

The steps: compile the program (compiler/), bind it (runtime/), time both executors taking turns
within a time budget, measure one inference's memory each, time every node when asked, and judge
the compiled outputs against a float64 reference (oracle.py).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import fields
from typing import Any

import numpy as np

from mlxa import __version__
from mlxa.analysis.cost import graph_cost
from mlxa.analysis.lifetimes import lifetimes
from mlxa.compiler import CompiledProgram, CompileOptions, compile_program
from mlxa.ir.graph import Graph
from mlxa.machine.blas import blas_info
from mlxa.machine.cpu import cpu_count, cpu_flags, cpu_name, load_average
from mlxa.oracle import check
from mlxa.profile.latency import LatencyStats, measure_interleaved, speedup_interval
from mlxa.profile.memory import measure_memory
from mlxa.profile.per_node import per_op
from mlxa.report.progress import Progress, no_progress
from mlxa.result import (
    Comparison,
    CompiledNode,
    Execution,
    Latency,
    MemoryComparison,
    MemoryFigures,
    Meta,
    ModelInfo,
    ModelSummary,
    NodeCost,
    PassTime,
    PerOp,
    PlannedBuffer,
    PlanSummary,
    RunConfig,
    RunResult,
)
from mlxa.runtime.compiled import CompiledModel
from mlxa.runtime.eager import EagerModel

MODES = ("baseline", "optimized", "both")
SPREAD_WARNING = 1.5  # p90 / p10 above this: the latencies are noisy
SIMD_FLAG_PREFIXES = ("sse", "ssse", "avx", "fma", "f16c", "amx", "vnni", "bmi")
PER_OP_REPEAT = 5  # per-node passes: each is one whole inference, timed call by call


def analyze(graph: Graph, inputs: tuple[np.ndarray, ...], config: RunConfig, info: ModelInfo,
            clock: Callable[[], float] = time.perf_counter,
            program: CompiledProgram | None = None,
            progress: Progress = no_progress) -> RunResult:
    """Run, measure and judge. Floating-point overflow in the model is not an error of the run:
    numpy's warnings are silenced and the oracle compares non-finite values in place.
    `progress` hears of the compile's passes, the timed calls and the per-node passes."""
    with np.errstate(all="ignore"):
        return _analyze(graph, inputs, config, info, clock, program, progress)


def _analyze(graph: Graph, inputs: tuple[np.ndarray, ...], config: RunConfig, info: ModelInfo,
             clock: Callable[[], float], program: CompiledProgram | None,
             progress: Progress) -> RunResult:
    runners: dict[str, Callable[[], Any]] = {}
    executors: dict[str, Any] = {}
    plan = None
    if config.mode in ("baseline", "both"):
        executors["baseline"] = EagerModel(graph)
    if config.mode in ("optimized", "both"):
        t0 = time.perf_counter()
        program = program or _compile(graph, CompileOptions(planner=config.planner,
                                                           kernels=config.kernels), progress)
        compile_ms = (time.perf_counter() - t0) * 1e3
        executors["optimized"] = CompiledModel(program)
        plan = dataclasses.replace(plan_summary(program, compile_ms),
                                   kernels=executors["optimized"].kernel_lines())
    outputs = {k: tuple(np.array(a) for a in ex(*inputs)) for k, ex in executors.items()}
    for key, ex in executors.items():
        runners[key] = _bound_call(ex, inputs)
    stats = measure_interleaved(runners, config.warmup, config.repeat, config.budget_s,
                                clock=clock, after_turn=lambda done, total: progress(
                                    "timed calls", done, total))
    parts = {k: Execution(_latency(stats[k]), _memory(runners[k]),
                          _per_op(executors[k], inputs, stats[k], clock,
                                  _stage(progress, f"per-op time, {k}")) if config.per_op
                          else None)
             for k in executors}
    comparison = None
    if config.mode == "both":
        verdict = check(graph, inputs, outputs["baseline"], outputs["optimized"])
        lo, hi = speedup_interval(stats["baseline"], stats["optimized"])
        comparison = Comparison(stats["baseline"].median_ms / stats["optimized"].median_ms,
                                lo, hi, memory_comparison(parts["baseline"],
                                                          parts["optimized"], plan),
                                verdict)
    meta = run_meta()
    return RunResult(meta=meta, model=model_summary(graph, info), config=config,
                     baseline=parts.get("baseline"), optimized=parts.get("optimized"),
                     plan=plan, comparison=comparison,
                     warnings=noise_warnings(stats, meta) + tiny_output_warnings(comparison))


def _stage(progress: Progress, stage: str) -> Callable[[int, int], None]:
    return lambda done, total: progress(stage, done, total)


def _compile(graph: Graph, options: CompileOptions, progress: Progress) -> CompiledProgram:
    """compile_program, telling `progress` of each pass; planning is the last unit."""
    total = len(options.pass_names()) + 1
    done = iter(range(1, total))
    progress("compile", 0, total)

    def after_pass(record: Any, result: Graph) -> None:
        progress("compile", next(done, total - 1), total)

    program = compile_program(graph, options, (after_pass,))
    progress("compile", total, total)
    return program


def _bound_call(executor: Any, inputs: tuple[np.ndarray, ...]) -> Callable[[], Any]:
    return lambda: executor(*inputs)


def _latency(s: LatencyStats) -> Latency:
    return Latency(s.median_ms, s.p10_ms, s.p90_ms, s.min_ms, s.repeat, s.warmup)


def _memory(fn: Callable[[], Any]) -> MemoryFigures:
    m = measure_memory(fn)
    return MemoryFigures(m.peak_traced_nbytes, m.allocations, m.allocated_nbytes)


def _per_op(executor: Any, inputs: tuple[np.ndarray, ...], stats: LatencyStats,
            clock: Callable[[], float],
            tell: Callable[[int, int], None] = lambda done, total: None) -> PerOp:
    if isinstance(executor, CompiledModel):
        nodes = [(c.step, c.node) for c in executor.calls]
    else:
        nodes = list(enumerate(executor.graph.nodes))
    repeat = max(PER_OP_REPEAT, min(stats.repeat, 20))
    done = iter(range(1, repeat + 1))

    def time_once() -> list[float]:
        times = executor.time_nodes(*inputs, clock=clock)
        tell(next(done, repeat), repeat)
        return list(times)

    return per_op(nodes, time_once, repeat, stats.median_ms, clock)


def tiny_output_warnings(comparison: Comparison | None) -> tuple[str, ...]:
    """Say when an output's float64 reference is below its dtype's smallest normal number: the
    executors' float32 results underflow to zero or subnormals there, so both errors read about
    1 of the scale and the check compares nothing (a model whose activations collapse, such as an
    untrained network with a vanishing scale)."""
    if comparison is None:
        return ()
    warnings = []
    for out in comparison.correctness.outputs:
        kind = np.dtype(out.dtype)
        if kind.kind == "f" and 0.0 < out.scale < np.finfo(kind).tiny:
            warnings.append(f"{out.name}: its float64 reference is {out.scale:.2g} at "
                            f"most, below {kind.name}'s smallest normal number: the correctness "
                            "check has nothing to compare")
    return tuple(warnings)


def noise_warnings(stats: dict[str, LatencyStats], meta: Meta) -> tuple[str, ...]:
    """Say when the figures are not to be trusted: a busy machine or a wide spread."""
    warnings = []
    if meta.load_average is not None and meta.load_average > 0.75 * meta.cpu_count:
        warnings.append(f"the machine is busy (load average {meta.load_average:.1f} on "
                        f"{meta.cpu_count} CPUs): latencies may be inflated")
    for key, s in stats.items():
        if s.spread_ratio > SPREAD_WARNING:
            warnings.append(f"{key} latencies are noisy: p90 is {s.spread_ratio:.1f}x p10 "
                            f"over {s.repeat} runs")
    return tuple(warnings)


def plan_summary(program: CompiledProgram, compile_ms: float = 0.0) -> PlanSummary:
    buffers = program.planned_buffers
    return PlanSummary(
        planner=program.options.planner,
        winning_strategy=program.plan.strategy,
        arena_nbytes=program.plan.arena_nbytes,
        lower_bound_nbytes=program.lower_bound_nbytes,
        bound_steps_nbytes=program.bound_steps,
        planners_arena_nbytes=dict(program.heuristic_arenas),
        workspace_nbytes=program.workspace_nbytes,
        io_buffers_nbytes=program.io_nbytes,
        footprint_nbytes=program.footprint_nbytes,
        fusion_groups=program.fusion_groups,
        inplace_ops=program.inplace_ops,
        alignment_nbytes=program.options.alignment,
        passes=tuple(PassTime(r.name, r.seconds * 1e3, r.nodes_before, r.nodes_after)
                     for r in program.passes),
        buffers=tuple(PlannedBuffer(b.start, b.end, b.nbytes, off, kind)
                      for b, off, kind in zip(buffers, program.plan.offsets,
                                              program.buffer_kinds())),
        compile_ms=compile_ms, nodes=compiled_nodes(program))


def compiled_nodes(program: CompiledProgram) -> tuple[CompiledNode, ...]:
    """The compiled graph's nodes with their producers, fused chain, lifetime and placement."""
    graph, buffer_of = program.graph, program.assignment.buffer_of
    step_of = {v: i for i, n in enumerate(graph.nodes) for v in n.outputs}
    life, offsets = lifetimes(graph).intervals, program.offsets
    rows = []
    for i, node in enumerate(graph.nodes):
        out = node.outputs[0]
        start, end = life.get(out, (i, i + 1))
        chain = ">".join(s[0] for s in node.attrs["steps"]) if node.op == "fused" else ""
        rows.append(CompiledNode(
            index=i, name=node.name, op=node.op, shape=tuple(out.shape),
            producer_index=tuple(dict.fromkeys(step_of[v] for v in node.inputs
                                               if v in step_of)),
            chain=chain, size_nbytes=out.nbytes, start_index=start, end_index=end,
            offset_nbytes=offsets.get(buffer_of[out]),
            shares_input=any(buffer_of.get(v) == buffer_of[out] for v in node.inputs)))
    return tuple(rows)


def memory_comparison(b: Execution, o: Execution, plan: PlanSummary | None) -> MemoryComparison:
    """Eager peak vs the optimized footprint; both figures from the measured parts of a run."""
    base_peak = b.memory.peak_traced_nbytes
    footprint = (plan.footprint_nbytes if plan else 0) + o.memory.peak_traced_nbytes
    return MemoryComparison(
        compares="activation memory of one inference: the eager peak (tracemalloc) vs the "
                 "optimized footprint (arena + workspace + input/output buffers + the peak "
                 "traced during the call)",
        baseline_nbytes=base_peak, optimized_nbytes=footprint,
        reduction_pct=_pct_less(base_peak, footprint),
        allocated_per_inference_reduction_pct=_pct_less(
            b.memory.allocated_nbytes_per_inference, o.memory.allocated_nbytes_per_inference))


def _pct_less(before: int, after: int) -> float:
    return 100.0 * (1 - after / before) if before else 0.0


def model_summary(graph: Graph, info: ModelInfo) -> ModelSummary:
    cost = graph_cost(graph)
    return ModelSummary(
        **{f.name: getattr(info, f.name) for f in fields(ModelInfo)}, graph=graph.name,
        inputs=tuple(str(v.type) for v in graph.inputs), nodes=len(graph.nodes),
        params=int(sum(a.size for a in graph.params.values())),
        param_nbytes=graph.param_nbytes, flops=cost.flops, read_nbytes=cost.read_nbytes,
        written_nbytes=cost.written_nbytes,
        ops=tuple(NodeCost(i, n.op, n.outputs[0].shape, c.flops, c.read_nbytes,
                           c.written_nbytes)
                  for i, (n, c) in enumerate(zip(graph.nodes, cost.per_node))),
    )


def run_meta() -> Meta:
    return Meta(
        mlxa_version=__version__, python_version=platform.python_version(),
        numpy_version=np.__version__, blas=blas_info(), cpu=cpu_name(), cpu_count=cpu_count(),
        platform=platform.platform(),
        date=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        command=" ".join(sys.argv), load_average=load_average(),
        cpu_flags=tuple(sorted(f for f in cpu_flags() if f.startswith(SIMD_FLAG_PREFIXES))))
