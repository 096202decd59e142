"""The graph IR: typed values, nodes in program order, a builder that infers types, a printer."""

from mlxa.ir.graph import Graph, GraphBuilder, Node, TensorType, Value

__all__ = ["Graph", "GraphBuilder", "Node", "TensorType", "Value"]
