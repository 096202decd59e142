"""The pass pipeline: transforms `Graph -> Graph` in a list, run by one function that owns the
cross-cutting work, so that no pass times, checks or prints itself:

- time each pass (PassRecord.seconds);
- verify the IR after each pass when asked (ir.verify.check_graph: topological order, every
  operand defined, types as the op table infers them, outputs defined);
- hand each pass's result to instruments (`mlxa show --after PASS` prints it).

A pass is registered once in PASSES under its name; CompileOptions.pass_names() says which run.
A new pass (quantize, layout, sparsify) is one more entry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mlxa.compiler.options import CompileOptions
from mlxa.ir.graph import Graph
from mlxa.ir.verify import check_graph
from mlxa.passes.fold_batch_norm import fold_batch_norm
from mlxa.passes.fuse_elementwise import fuse_elementwise
from mlxa.passes.layout import convert_layout
from mlxa.passes.lower_qdq import lower_qdq
from mlxa.passes.quantize import quantize_qdq
from mlxa.passes.reorder import reorder_for_memory
from mlxa.passes.sparsify import sparsify_or_prune


@dataclass(frozen=True)
class Pass:
    name: str
    run: Callable[[Graph, CompileOptions], Graph]
    doc: str


@dataclass(frozen=True)
class PassRecord:
    """One pass as it ran: wall time, node counts before and after, and whether it changed the
    graph at all (a different node list)."""

    name: str
    seconds: float
    nodes_before: int
    nodes_after: int
    changed: bool


# An instrument sees every pass's record and result graph, after the pipeline's own checks.
Instrument = Callable[[PassRecord, Graph], None]

PASSES: dict[str, Pass] = {p.name: p for p in (
    Pass("fold_batch_norm", lambda g, o: fold_batch_norm(g),
         "batch norm folded into the conv before it"),
    Pass("sparsify", lambda g, o: sparsify_or_prune(g, o.sparsify) if o.sparsify else g,
         "magnitude pruning; the channel pattern removes channels (smaller convs)"),
    Pass("quantize", lambda g, o: quantize_qdq(g, o.quantize) if o.quantize else g,
         "calibrated INT8 quantization: quantize/dequantize pairs around the 8-bit values"),
    Pass("lower_qdq",
         lambda g, o: lower_qdq(g, o.quantize.rounding) if o.quantize else g,
         "each quantized conv/gemm/matmul and its pairs become one integer op"),
    Pass("convert_layout", lambda g, o: convert_layout(g, o.layout, o.layout_block),
         "convs, pools and norms in nhwc or blocked nchwc, relayouts only at region borders"),
    Pass("fuse_elementwise", lambda g, o: fuse_elementwise(g),
         "chains of elementwise ops become one blocked `fused` node"),
    Pass("reorder_for_memory",
         lambda g, o: reorder_for_memory(g, alignment=o.alignment, inplace=o.inplace),
         "nodes rescheduled so fewer intermediate bytes are alive at once"),
)}


def run_passes(graph: Graph, options: CompileOptions,
               instruments: Sequence[Instrument] = ()) -> tuple[Graph, tuple[PassRecord, ...]]:
    """Run the passes `options` selects, in order; the final graph and one record per pass."""
    if options.verify:
        check_graph(graph, "the input graph")
    records = []
    for name in options.pass_names():
        t0 = time.perf_counter()
        result = PASSES[name].run(graph, options)
        record = PassRecord(name, time.perf_counter() - t0, len(graph.nodes), len(result.nodes),
                            result.nodes != graph.nodes)
        if options.verify:
            check_graph(result, f"after {name}")
        for instrument in instruments:
            instrument(record, result)
        records.append(record)
        graph = result
    return graph, tuple(records)
