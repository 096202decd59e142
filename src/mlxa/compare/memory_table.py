"""One table of activation memory per model, ours beside real compilers', each column saying
what it counts: the eager peak we measure, each planner's arena and the lower bound of our
compiled plan, XLA's temp and onnx-tool's compressed memory.

A row is plain data (`memory_row`, JSON-serialisable, units in every key); `render_table` is its
text renderer. A compiler that is not installed or cannot take the graph leaves its cells empty
and says why in the row's notes.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlxa.errors import MlxaError
from mlxa.ir.graph import Graph
from mlxa.planners.registry import HEURISTICS
from mlxa.units import format_nbytes


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    counts: str


COLUMNS = (
    Column("eager_peak_nbytes", "eager",
           "measured, tracemalloc's peak in one eager call: intermediates, outputs, scratch"),
    *(Column(f"arena_nbytes.{name}", name.removeprefix("greedy_"),
             f"our compiled arena, planner {name}") for name in HEURISTICS),
    Column("lower_bound_nbytes", "bound",
           "that arena's lower bound: the most bytes alive at one step"),
    Column("reordered_bound_nbytes", "reordered",
           "the bound with the nodes reordered (CompileOptions(reorder=True))"),
    Column("workspace_nbytes", "ew scratch",
           "the fused elementwise kernels' fixed scratch, beside the arena"),
    Column("xla_temp_nbytes", "XLA temp",
           "intermediates and scratch after XLA's own fusion and buffer assignment (jax.jit, CPU)"),
    Column("xla_io_nbytes", "XLA io", "XLA's argument and output buffers (weights are constants)"),
    Column("onnx_tool_nbytes", "onnx-tool",
           "compress_memory of the exported ONNX graph: inputs, outputs, intermediates "
           "(unfused, no in-place, no scratch)"),
)
INTERMEDIATES_ONLY = ("our arenas, bound and reordered bound (graph compiled with its defaults: "
                      "fused, in-place, 64-byte aligned) and XLA temp count intermediates and "
                      "kernel scratch (a conv's column buffer), not inputs, outputs or weights; "
                      "eager also holds the outputs, onnx-tool the inputs and outputs")


def random_inputs(graph: Graph, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal(v.shape).astype(v.dtype) for v in graph.inputs)


def memory_row(name: str, graph: Graph, inputs: Sequence[np.ndarray],
               xla: bool = True, onnx_tool: bool = True) -> dict[str, Any]:
    row: dict[str, Any] = {"model": name, "nodes": len(graph.nodes),
                           "input_shapes": [list(v.shape) for v in graph.inputs], "notes": []}
    row.update(_ours(graph, inputs))
    if xla:
        row.update(_xla(graph, inputs, row["notes"]))
    if onnx_tool:
        row.update(_onnx_tool(graph, row["notes"]))
    return row


def _ours(graph: Graph, inputs: Sequence[np.ndarray]) -> dict[str, Any]:
    from mlxa.analysis.bound_steps import arena_bound
    from mlxa.compiler import compile_program
    from mlxa.passes.reorder import reorder_for_memory
    from mlxa.profile.memory import measure_memory
    from mlxa.runtime.eager import EagerModel

    eager = EagerModel(graph)
    eager(*inputs)  # warm-up: first-call allocations are not the model's
    peak = measure_memory(lambda: eager(*inputs)).peak_traced_nbytes
    program = compile_program(graph)  # planned, not bound: no arena is allocated
    align = program.options.alignment
    # the compiled graph rescheduled: the one pass the default pipeline leaves out
    reordered = reorder_for_memory(program.graph, alignment=align)
    return {
        "eager_peak_nbytes": peak,
        "arena_nbytes": dict(program.heuristic_arenas),
        "lower_bound_nbytes": program.lower_bound_nbytes,
        "reordered_bound_nbytes": min(arena_bound(reordered, align, inplace=True),
                                      program.lower_bound_nbytes),
        "workspace_nbytes": program.workspace_nbytes,
    }


def _xla(graph: Graph, inputs: Sequence[np.ndarray], notes: list[str]) -> dict[str, Any]:
    try:
        import jax  # noqa: F401
    except ImportError:
        notes.append("XLA: JAX is not installed (pip install 'mlxa[jax]')")
        return {}
    from mlxa.compare.xla import check_lowering, compile_xla, xla_memory

    try:
        compiled = compile_xla(graph, inputs)
    except MlxaError as e:
        notes.append(f"XLA: {e}")
        return {}
    mem = xla_memory(compiled)
    check = check_lowering(graph, inputs, compiled)
    if not check["passed"]:
        notes.append(f"XLA: lowering differs from eager (max abs diff {check['max_abs_diff']:.2e})")
    return {"xla_temp_nbytes": mem.temp_nbytes,
            "xla_io_nbytes": mem.input_nbytes + mem.output_nbytes,
            "xla_lowering": {k: check[k] for k in ("passed", "max_abs_diff", "rtol", "atol")}}


def _onnx_tool(graph: Graph, notes: list[str]) -> dict[str, Any]:
    from mlxa.compare.onnxtool import onnx_tool_memory

    try:
        result = onnx_tool_memory(graph)
    except (MlxaError, ImportError) as e:
        notes.append(f"onnx-tool: {e}")
        return {}
    notes.extend(f"onnx-tool: {w}" for w in result.warnings)
    return {"onnx_tool_nbytes": result.compressed_nbytes}


def cell(row: dict[str, Any], key: str) -> int | None:
    head, _, tail = key.partition(".")
    value = row.get(head)
    return value.get(tail) if tail and isinstance(value, dict) else value


def render_table(rows: Sequence[dict[str, Any]], batch: int | None = None) -> str:
    headers = ["model"] + [c.header for c in COLUMNS]
    body = [[r["model"]] + [_fmt(cell(r, c.key)) for c in COLUMNS] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(headers, *body)]
    lines = [f"Activation memory per model{f' (batch {batch})' if batch else ''}"]
    for row in [headers, *body]:
        lines.append("  ".join([row[0].ljust(widths[0])]
                               + [x.rjust(w) for x, w in zip(row[1:], widths[1:])]))
    lines.append("")
    legend = [f"{c.header}: {c.counts}" for c in COLUMNS] + [INTERMEDIATES_ONLY]
    legend += [f"note, {r['model']}: {n}" for r in rows for n in r["notes"]]
    lines += [textwrap.fill(x, 100, initial_indent="  ", subsequent_indent="    ",
                           break_on_hyphens=False)
              for x in legend]
    return "\n".join(lines) + "\n"


def _fmt(nbytes: int | None) -> str:
    return "-" if nbytes is None else format_nbytes(nbytes)
