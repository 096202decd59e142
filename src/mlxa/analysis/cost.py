"""FLOPs and bytes per node and in total, from the op table's cost rules."""

from __future__ import annotations

from dataclasses import dataclass

from mlxa.ir.graph import Graph
from mlxa.ops import Cost, get_op


@dataclass(frozen=True)
class GraphCost:
    per_node: tuple[Cost, ...]

    @property
    def flops(self) -> int:
        return sum(c.flops for c in self.per_node)

    @property
    def read_nbytes(self) -> int:
        return sum(c.read_nbytes for c in self.per_node)

    @property
    def written_nbytes(self) -> int:
        return sum(c.written_nbytes for c in self.per_node)


def graph_cost(graph: Graph) -> GraphCost:
    return GraphCost(tuple(
        get_op(n.op).cost([v.type for v in n.inputs], [v.type for v in n.outputs], n.attrs)
        for n in graph.nodes))
