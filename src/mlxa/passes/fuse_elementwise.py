"""Elementwise fusion: chains of elementwise ops become one `fused` node run block by block.

A chain grows from an elementwise node through its result's only consumer while that consumer is
elementwise, produces the same type, belongs to no earlier chain, and the result is not a graph
output. The fused node takes
the chain's place at its last node, so every external operand is defined before it. Chains of one
node are left alone. O(nodes + edges).
"""

from __future__ import annotations

from types import MappingProxyType

from mlxa.ir.graph import Graph, Node, Value
from mlxa.ops import get_op
from mlxa.ops.fused import Step, make_step


def fusion_groups(graph: Graph) -> tuple[tuple[int, ...], ...]:
    """Node indices of each chain of two or more fusable nodes, in program order."""
    consumers = graph.consumers()
    index = {id(n): i for i, n in enumerate(graph.nodes)}
    outputs = set(graph.outputs)
    taken: set[int] = set()
    groups = []
    for i, node in enumerate(graph.nodes):
        if i in taken or not _fusable(node):
            continue
        chain = [i]
        while True:
            last = graph.nodes[chain[-1]]
            users = consumers.get(last.output, [])
            if last.output in outputs or len(users) != 1:
                break
            nxt = users[0]
            j = index[id(nxt)]
            if j in taken or not _fusable(nxt) or nxt.output.type != last.output.type:
                break
            chain.append(j)
        if len(chain) > 1:
            taken.update(chain)
            groups.append(tuple(chain))
    return tuple(groups)


def _fusable(node: Node) -> bool:
    # a fused node is this pass's result, not a member of a chain
    return get_op(node.op).elementwise and node.op != "fused" and len(node.outputs) == 1


def fuse_elementwise(graph: Graph) -> Graph:
    groups = fusion_groups(graph)
    last_of = {g[-1]: g for g in groups}
    inner = {i for g in groups for i in g[:-1]}
    nodes: list[Node] = []
    for i, node in enumerate(graph.nodes):
        if i in last_of:
            nodes.append(_fused_node([graph.nodes[j] for j in last_of[i]]))
        elif i not in inner:
            nodes.append(node)
    return graph.replace(nodes=tuple(nodes))


def _fused_node(chain: list[Node]) -> Node:
    externals: list[Value] = []
    steps: list[Step] = []
    prev: Value | None = None
    for node in chain:
        operands = []
        for v in node.inputs:
            if v is prev:
                operands.append(-1)
            else:
                if v not in externals:
                    externals.append(v)
                operands.append(externals.index(v))
        steps.append(make_step(node.op, operands, node.attrs))
        prev = node.output
    name = "+".join(n.op for n in chain)
    return Node("fused", tuple(externals), (chain[-1].output,),
                MappingProxyType({"steps": tuple(steps)}), name)
