"""The IR's invariants, checked: what every pass must preserve.

- program order is topological: every operand is a graph input, a parameter or the output of an
  earlier node; no value is defined twice;
- every node's output types are what the op table's shape rule infers from its inputs;
- every graph output is defined.
O(nodes + edges) plus one shape rule per node.
"""

from __future__ import annotations

from mlxa.errors import MlxaError
from mlxa.ir.graph import Graph, Value


class IRError(MlxaError):
    """A graph broke an IR invariant; the message names the node and the pass."""


def check_graph(graph: Graph, where: str = "") -> None:
    from mlxa.ops import infer_types  # the op table imports the IR, not the reverse

    prefix = f"{where}: " if where else ""
    defined: set[Value] = set(graph.inputs) | set(graph.params)
    for i, node in enumerate(graph.nodes):
        label = f"{prefix}node {i} ({node.op} {node.name!r})".replace(" ''", "")
        missing = [k for k, v in enumerate(node.inputs) if v not in defined]
        if missing:
            raise IRError(f"{label} reads operand(s) {missing} before they are defined")
        types = infer_types(node.op, [v.type for v in node.inputs], node.attrs, label)
        declared = tuple(v.type for v in node.outputs)
        if types != declared:
            raise IRError(f"{label} declares {', '.join(map(str, declared))} but its inputs "
                          f"give {', '.join(map(str, types))}")
        for v in node.outputs:
            if v in defined:
                raise IRError(f"{label} defines a value that is already defined")
            defined.add(v)
    undefined = [k for k, v in enumerate(graph.outputs) if v not in defined]
    if undefined:
        raise IRError(f"{prefix}graph output(s) {undefined} are never defined")
