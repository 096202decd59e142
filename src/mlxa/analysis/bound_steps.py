"""How far each compiler step lowers the arena's lower bound: the most intermediate bytes alive at
one step, counted the way the arena counts them (sizes rounded up to the alignment; graph inputs,
parameters and outputs outside; each op's scratch alive at its step), after

1. "as written": the source graph in program order, every value in its own buffer;
2. one step per transform the pipeline ran (fold_batch_norm, fuse_elementwise,
   reorder_for_memory), still one buffer per value;
3. "in-place": the final graph with the executor's buffer sharing (an elementwise op writes over
   an input that dies at it; a view shares its input's bytes). This last figure is the bound the
   arena is planned against.

Fusion can raise the bound when a chain's nodes lie far apart (the fused node runs where the
chain's last node ran, so operands of its first node stay alive until then): such a rise is
reported as measured, not hidden. Each figure is one O(n log n) sweep over the graph the pipeline
made: nothing here runs a pass.
"""

from __future__ import annotations

from mlxa.analysis.buffers import assign_buffers
from mlxa.analysis.scratch import op_scratch
from mlxa.ir.graph import Graph
from mlxa.planners.contract import lower_bound

AS_WRITTEN = "as written"
IN_PLACE = "in-place"


def arena_bound(graph: Graph, alignment: int, inplace: bool) -> int:
    """The lower bound of `graph`'s arena in its program order, op scratch included."""
    buffers = assign_buffers(graph, inplace=inplace).arena_buffers
    return lower_bound(buffers + tuple(op_scratch(graph, len(buffers)).values()), alignment)
