"""Op scratch: the working memory a (non-elementwise) kernel needs at its step, a conv's column
buffer or padded input. It is planned like a tensor alive at that step alone, so every figure
that counts the arena (bounds, plans) counts it the same way."""

from __future__ import annotations

from collections.abc import Mapping

from mlxa.ir.graph import Graph
from mlxa.ops import get_op
from mlxa.ops.blocks import block_elements_of
from mlxa.planners.contract import Buffer


def op_scratch(graph: Graph, first_id: int = 0) -> Mapping[int, Buffer]:
    """step -> the scratch buffer of the op at that step (ids from `first_id` on)."""
    scratch: dict[int, Buffer] = {}
    for step, node in enumerate(graph.nodes):
        op = get_op(node.op)
        nbytes = op.workspace_nbytes([v.type for v in node.inputs],
                                     [v.type for v in node.outputs], node.attrs)
        if op.ew is None and nbytes:
            scratch[step] = Buffer(first_id + len(scratch), step, step + 1, nbytes)
    return scratch


def block_workspace_nbytes(graph: Graph) -> int:
    """The workspace the blocked elementwise kernels share: the most temporaries any one of them
    uses at once (blocks of the output's shape). Zero when no kernel needs a temporary."""
    need = 0
    for node in graph.nodes:
        op = get_op(node.op)
        if op.ew is not None:
            out = node.outputs[0]
            need = max(need, op.tmps(node.attrs) * block_elements_of(out.shape)
                       * out.dtype.itemsize)
    return need
