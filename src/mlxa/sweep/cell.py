"""One cell of a sweep, run where it is sent (a Dask worker, or in process): build the zoo model,
compile it in the cell's precision and planner, run the backend, and return one flat row of
figures and metadata.

The backends measure what `mlxa analyze` measures, so a sweep row and an analyze report agree:
- eager: `analyze` in baseline mode (latency, the traced peak of one call);
- compiled: `analyze` in both modes, eager and compiled taking turns, so the row carries the
  speedup with its interval and the oracle's verdict; its memory is the compiled footprint
  (arena + workspace + input/output buffers + the peak traced during the call), the figure the
  analyze report sets against the eager peak. At int8 the program is quantized (passes/
  quantize.py, calibrated on the measured input and seeded random batches) and its speedup is over
  fp32 eager; it is judged by the oracle's quantized rule (output SQNR against float64 at
  least oracle.SQNR_FLOOR_DB), since the float rule bounds float32 rounding, not 8-bit steps;
- onnxruntime: the graph exported to ONNX and run at ORT_ENABLE_ALL with as many intra-op threads
  as numpy's BLAS has, timed by the same budgeted loop; its outputs judged by the same oracle.
  ORT allocates in its own arena, out of tracemalloc's sight, so its memory is not measured
  (None), never guessed.
The inputs are the ones `mlxa analyze --model NAME` uses (the default input tiled).
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

import numpy as np

from mlxa.ir.graph import Graph
from mlxa.sweep.grid import Cell

Row = dict[str, Any]

CALIBRATION_BATCHES = 2  # seeded random batches, beside the measured input, for INT8 ranges


def run_cell(cell: Cell) -> Row:
    """Build, run and measure one cell; MlxaError for a model that cannot be run as asked."""
    started = time.perf_counter()
    graph, inputs, info = _model(cell)
    with np.errstate(all="ignore"):
        if cell.backend == "onnxruntime":
            row = _onnxruntime(cell, graph, inputs)
        else:
            row = _mlxa(cell, graph, inputs, info)
    row.update(_cell_fields(cell), **_machine(), model_flops=_flops(graph),
               params=int(sum(a.size for a in graph.params.values())),
               elapsed_s=time.perf_counter() - started)
    return row


def _model(cell: Cell) -> tuple[Graph, tuple[np.ndarray, ...], Any]:
    from mlxa.cli.model_sources import DEFAULT_INPUT, check_run_fits, parse_values, tiled_input
    from mlxa.models.zoo import build
    from mlxa.session import ModelInfo

    graph = build(cell.model, cell.batch, cell.seed)
    check_run_fits(f"sweep cell {cell.label}", graph)
    values = parse_values(DEFAULT_INPUT)
    info = ModelInfo(name=cell.model, description=f"zoo model {cell.model}", batch=cell.batch,
                     seed=cell.seed, weights=f"deterministic (seed {cell.seed})",
                     input_values=tuple(values),
                     input_width=int(np.prod(graph.inputs[0].shape[1:])))
    return graph, tiled_input(graph, values), info


def _mlxa(cell: Cell, graph: Graph, inputs: tuple[np.ndarray, ...], info: Any) -> Row:
    from mlxa.result import RunConfig
    from mlxa.session import analyze

    compiled = cell.backend == "compiled"
    planner = cell.planner if compiled else "best"
    config = RunConfig(mode="both" if compiled else "baseline", planner=planner,
                       warmup=cell.warmup, repeat=cell.repeat, budget_s=cell.budget_s)
    program = compile_cell(cell, graph, inputs) if compiled else None
    result = analyze(graph, inputs, config, info, program=program)
    part = result.optimized if compiled else result.baseline
    assert part is not None
    lat = part.latency
    row: Row = {"latency_median_ms": lat.median_ms, "latency_p10_ms": lat.p10_ms,
                "latency_p90_ms": lat.p90_ms, "latency_min_ms": lat.min_ms,
                "timed_calls": lat.repeat,
                "peak_traced_nbytes": part.memory.peak_traced_nbytes,
                "allocations_per_inference": part.memory.allocations_per_inference,
                "memory_nbytes": part.memory.peak_traced_nbytes,
                "warnings": json.dumps(list(result.warnings)),
                "run_json": json.dumps(result.to_json(), allow_nan=False)}
    if compiled and result.plan is not None and result.comparison is not None:
        c = result.comparison
        row.update(memory_nbytes=c.memory.optimized_nbytes, arena_nbytes=result.plan.arena_nbytes,
                   lower_bound_nbytes=result.plan.lower_bound_nbytes,
                   speedup_ratio=c.speedup_ratio, speedup_low_ratio=c.speedup_low_ratio,
                   speedup_high_ratio=c.speedup_high_ratio, error_ratio=_worst_error(c.correctness),
                   correct=c.correctness.passed if cell.precision == "fp32"
                   else _quantized_passed(graph, inputs, program))
    return row


def _quantized_passed(graph: Graph, inputs: tuple[np.ndarray, ...], program: Any) -> bool:
    """An INT8 program judged by the oracle's quantized rule (its own error budget)."""
    from mlxa.oracle import check_quantized
    from mlxa.runtime.compiled import CompiledModel

    outputs = tuple(np.array(a) for a in CompiledModel(program)(*inputs))
    return check_quantized(graph, [inputs], [outputs]).passed


def compile_cell(cell: Cell, graph: Graph, inputs: tuple[np.ndarray, ...]) -> Any:
    """The compiled program of a cell: its planner, and for int8 the quantization pass
    calibrated on the measured input and CALIBRATION_BATCHES seeded random batches."""
    from mlxa.compiler import CompileOptions, compile_program

    quantize = None
    if cell.precision == "int8":
        from mlxa.passes.quantize import QuantizeSpec

        rng = np.random.default_rng(cell.seed)
        batches = (inputs, *(tuple(rng.standard_normal(x.shape).astype(x.dtype) for x in inputs)
                             for _ in range(CALIBRATION_BATCHES)))
        quantize = QuantizeSpec(batches)
    return compile_program(graph, CompileOptions(planner=cell.planner, quantize=quantize))


def _onnxruntime(cell: Cell, graph: Graph, inputs: tuple[np.ndarray, ...]) -> Row:
    import onnxruntime

    from mlxa.compare.ort import ort_runner
    from mlxa.machine.blas import blas_info
    from mlxa.oracle import check
    from mlxa.profile.latency import measure_interleaved
    from mlxa.result import to_json
    from mlxa.runtime.eager import EagerModel

    threads = blas_info().get("threads")
    runner = ort_runner(graph, inputs, threads if isinstance(threads, int) else None)
    assert runner is not None  # grid.check_backends refused the cell without onnxruntime
    outputs = tuple(np.asarray(a) for a in runner())
    eager = tuple(np.array(a) for a in EagerModel(graph)(*inputs))
    verdict = check(graph, inputs, eager, outputs)
    lat = measure_interleaved({"ort": runner}, cell.warmup, cell.repeat, cell.budget_s)["ort"]
    return {"latency_median_ms": lat.median_ms, "latency_p10_ms": lat.p10_ms,
            "latency_p90_ms": lat.p90_ms, "latency_min_ms": lat.min_ms,
            "timed_calls": lat.repeat, "correct": verdict.passed,
            "error_ratio": _worst_error(verdict), "backend_version": onnxruntime.__version__,
            "run_json": json.dumps({"verdict": to_json(verdict)}, allow_nan=False)}


def _worst_error(verdict: Any) -> float | None:
    """The largest error of the judged executor relative to the output's scale (None: none)."""
    errors = [o.optimized_error for o in verdict.outputs if np.isfinite(o.optimized_error)]
    return max(errors) if errors else None


def _flops(graph: Graph) -> int:
    from mlxa.analysis.cost import graph_cost

    return int(graph_cost(graph).flops)


def _cell_fields(cell: Cell) -> Row:
    return {"cell_key": cell.key, "model": cell.model, "batch": cell.batch,
            "precision": cell.precision, "backend": cell.backend, "planner": cell.planner,
            "seed": cell.seed, "warmup": cell.warmup, "repeat": cell.repeat,
            "budget_s": cell.budget_s}


def _machine() -> Row:
    """Where and with what the cell ran: the same facts an analyze report's header gives."""
    from mlxa.session import run_meta

    meta = run_meta()
    return {"hostname": socket.gethostname(), "pid": os.getpid(), "cpu": meta.cpu,
            "cpu_count": meta.cpu_count, "platform": meta.platform,
            "python_version": meta.python_version, "numpy_version": meta.numpy_version,
            "mlxa_version": meta.mlxa_version, "blas": json.dumps(meta.blas),
            "load_average": meta.load_average, "date": meta.date}
