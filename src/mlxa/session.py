"""One analysis run of a model: eager and/or compiled, measured, checked, as one data object.

The result is a plain JSON-serialisable dict (units in every key); renderers in report/ turn it
into text. Measuring is separate from rendering so a saved run can be rendered again.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mlxa import __version__
from mlxa.analysis.bound_steps import bound_steps
from mlxa.analysis.buffers import assign_buffers
from mlxa.analysis.cost import graph_cost
from mlxa.ir.graph import Graph
from mlxa.machine.blas import blas_info
from mlxa.machine.cpu import cpu_name
from mlxa.planners import get_planner, lower_bound
from mlxa.planners.registry import HEURISTICS
from mlxa.profile.latency import measure_latency
from mlxa.profile.memory import measure_memory
from mlxa.runtime.compiled import CompiledModel, CompileOptions
from mlxa.runtime.eager import EagerModel
from mlxa.verify import compare_outputs

MODES = ("baseline", "optimized", "both")
SCHEMA = "mlxa.run/1"


@dataclass(frozen=True)
class RunOptions:
    mode: str = "both"
    warmup: int = 10
    repeat: int = 100
    planner: str = "best"


def analyze(graph: Graph, inputs: tuple[np.ndarray, ...], options: RunOptions,
            model_info: dict[str, Any], clock: Callable[[], float] | None = None) -> dict[str, Any]:
    """Run, measure and check. Floating-point overflow in the model is not an error of the run:
    numpy's warnings are silenced and the report counts non-finite outputs instead."""
    with np.errstate(all="ignore"):
        return _analyze(graph, inputs, options, model_info, clock)


def _analyze(graph: Graph, inputs: tuple[np.ndarray, ...], options: RunOptions,
             model_info: dict[str, Any], clock: Callable[[], float] | None) -> dict[str, Any]:
    report: dict[str, Any] = {"schema": SCHEMA, "meta": run_meta(),
                              "model": {**model_info, **model_summary(graph)},
                              "config": asdict(options)}
    timing = {} if clock is None else {"clock": clock}
    outputs = {}
    if options.mode in ("baseline", "both"):
        eager = EagerModel(graph)
        outputs["baseline"] = tuple(np.array(a) for a in eager(*inputs))
        report["baseline"] = _measure(lambda: eager(*inputs), options, timing)
    if options.mode in ("optimized", "both"):
        compiled = CompiledModel(graph, CompileOptions(planner=options.planner))
        outputs["optimized"] = tuple(np.array(a) for a in compiled(*inputs))
        report["optimized"] = {**_measure(lambda: compiled(*inputs), options, timing),
                               "plan": plan_summary(compiled)}
    if options.mode == "both":
        report["comparison"] = compare(report, outputs["baseline"], outputs["optimized"])
    return report


def _measure(fn: Callable[[], Any], options: RunOptions, timing: dict[str, Any]) -> dict[str, Any]:
    latency = measure_latency(fn, options.warmup, options.repeat, **timing)
    mem = measure_memory(fn)
    return {
        "latency_ms": {"median_ms": latency.median_ms, "p10_ms": latency.p10_ms,
                       "p90_ms": latency.p90_ms, "min_ms": latency.min_ms},
        "memory": {"peak_traced_nbytes": mem.peak_traced_nbytes,
                   "allocations_per_inference": mem.allocations,
                   "allocated_nbytes_per_inference": mem.allocated_nbytes},
    }


def plan_summary(compiled: CompiledModel) -> dict[str, Any]:
    align = compiled.options.alignment
    buffers = compiled.planned_buffers
    no_inplace = assign_buffers(compiled.graph, inplace=False).arena_buffers
    unfused = assign_buffers(compiled.source, inplace=False).arena_buffers
    io_nbytes = sum(v.nbytes for v in compiled.graph.inputs)
    io_nbytes += sum(compiled.assignment.buffers[i].nbytes
                     for i, out in enumerate(compiled.assignment.is_output) if out)
    return {
        "planner": compiled.options.planner,
        "winning_strategy": compiled.plan.strategy,
        "arena_nbytes": compiled.plan.arena_nbytes,
        "lower_bound_nbytes": compiled.lower_bound_nbytes,
        "lower_bound_before_fusion_and_inplace_nbytes": lower_bound(unfused, align),
        "lower_bound_before_inplace_nbytes": lower_bound(no_inplace, align),
        "bound_steps_nbytes": [[step, n] for step, n in bound_steps(compiled.source, align)],
        "planners_arena_nbytes": {name: get_planner(name)(buffers, align).arena_nbytes
                                  for name in HEURISTICS},
        "workspace_nbytes": compiled.workspace_nbytes,
        "io_buffers_nbytes": io_nbytes,
        "footprint_nbytes": compiled.plan.arena_nbytes + compiled.workspace_nbytes + io_nbytes,
        "fusion_groups": [n.name for n in compiled.graph.nodes if n.op == "fused"],
        "inplace_ops": sum(len(vs) - 1 for vs in compiled.assignment.values),
        "alignment_nbytes": align,
        "buffers": [{"start_index": b.start, "end_index": b.end, "size_nbytes": b.nbytes,
                     "offset_nbytes": off, "kind": kind}
                    for b, off, kind in zip(buffers, compiled.plan.offsets,
                                            compiled.buffer_kinds())],
    }


def compare(report: dict[str, Any], base: tuple[np.ndarray, ...],
            opt: tuple[np.ndarray, ...]) -> dict[str, Any]:
    b, o = report["baseline"], report["optimized"]
    return {
        "speedup_ratio": b["latency_ms"]["median_ms"] / o["latency_ms"]["median_ms"],
        "memory": memory_comparison(b, o),
        "correctness": compare_outputs(base, opt),
    }


def memory_comparison(b: dict[str, Any], o: dict[str, Any]) -> dict[str, Any]:
    """Eager peak vs the optimized footprint; both figures from the measured parts of a run."""
    base_peak = b["memory"]["peak_traced_nbytes"]
    footprint = o["plan"]["footprint_nbytes"] + o["memory"]["peak_traced_nbytes"]
    return {
        "compares": "activation memory of one inference: the eager peak (tracemalloc) vs the "
                    "optimized footprint (arena + workspace + input/output buffers + the peak "
                    "traced during the call)",
        "baseline_nbytes": base_peak, "optimized_nbytes": footprint,
        "reduction_pct": _pct_less(base_peak, footprint),
        "allocated_per_inference_reduction_pct": _pct_less(
            b["memory"]["allocated_nbytes_per_inference"],
            o["memory"]["allocated_nbytes_per_inference"]),
    }


def _pct_less(before: int, after: int) -> float:
    return 100.0 * (1 - after / before) if before else 0.0


def model_summary(graph: Graph) -> dict[str, Any]:
    cost = graph_cost(graph)
    return {
        "graph": graph.name,
        "inputs": [{"shape": list(v.shape), "dtype": str(v.dtype)} for v in graph.inputs],
        "nodes": len(graph.nodes),
        "param_nbytes": graph.param_nbytes,
        "params": int(sum(a.size for a in graph.params.values())),
        "flops": cost.flops, "read_nbytes": cost.read_nbytes,
        "written_nbytes": cost.written_nbytes,
        "ops": [{"index": i, "op": n.op, "shape": list(n.outputs[0].shape),
                 "flops": c.flops, "read_nbytes": c.read_nbytes,
                 "written_nbytes": c.written_nbytes,
                 "intensity_flops_per_byte": round(c.intensity_flops_per_byte, 3)}
                for i, (n, c) in enumerate(zip(graph.nodes, cost.per_node))],
    }


def run_meta() -> dict[str, Any]:
    return {
        "mlxa_version": __version__,
        "python_version": platform.python_version(),
        "numpy_version": np.__version__,
        "blas": blas_info(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
    }

