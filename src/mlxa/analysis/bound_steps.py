"""How far each compiler step lowers the arena's lower bound: the most intermediate bytes alive at
one step (64-byte aligned sizes; graph inputs, parameters and outputs excluded), after

1. "as written": program order, every value in its own buffer (no sharing);
2. "in-place": an op writes over an input under TFLite's rule (the input has one consumer, the
   same size and type, dies at the op, and is not a graph input or output);
3. "+ fusion": elementwise chains fused (their intermediates never exist), in-place as in 2;
4. "+ reordering": the fused graph rescheduled by passes.reorder, in-place as in 2.

Each step builds on the one before. In-place sharing and reordering never raise the bound;
fusion can, when a chain's nodes lie far apart: the fused node runs where the chain's last node
ran, so operands of its first node stay alive until then. Such a rise is reported as measured,
not hidden (reordering usually takes it back by moving the fused node up).
"""

from __future__ import annotations

from mlxa.ir.graph import Graph
from mlxa.passes.fuse_elementwise import fuse_elementwise
from mlxa.passes.reorder import arena_bound, reorder_for_memory

STEPS = ("as written", "in-place", "+ fusion", "+ reordering")


def bound_steps(graph: Graph, alignment: int = 64) -> tuple[tuple[str, int], ...]:
    """(step name, lower bound in bytes) for each of STEPS, in order."""
    fused = fuse_elementwise(graph)
    reordered = reorder_for_memory(fused, alignment=alignment, single_consumer=True)
    return (
        (STEPS[0], arena_bound(graph, alignment, inplace=False)),
        (STEPS[1], arena_bound(graph, alignment, single_consumer=True)),
        (STEPS[2], arena_bound(fused, alignment, single_consumer=True)),
        (STEPS[3], arena_bound(reordered, alignment, single_consumer=True)),
    )
