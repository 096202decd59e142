"""The graph IR: typed values, nodes in program order (graph.py), the invariants (verify.py), a
printer; building a graph (builder.py) infers types through the op table."""

from mlxa.ir.graph import Graph, Node, TensorType, Value

__all__ = ["Graph", "Node", "TensorType", "Value"]
