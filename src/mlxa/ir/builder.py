"""Building a graph op by op: each output's type inferred by the op table's shape rule, so a
graph is never built with an unknown or wrong type. The IR (graph.py) knows nothing of the op
table; the builder stands above both."""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from mlxa.ir.graph import Graph, Node, TensorType, Value
from mlxa.ops import infer_types


class GraphBuilder:
    """Builds a Graph op by op, inferring each output type from the op table's shape rule."""

    def __init__(self, name: str = "graph") -> None:
        self.name = name
        self._inputs: list[Value] = []
        self._params: dict[Value, np.ndarray] = {}
        self._nodes: list[Node] = []

    def input(self, shape: Sequence[int], dtype: Any = np.float32) -> Value:
        v = Value(TensorType.of(shape, dtype))
        self._inputs.append(v)
        return v

    def param(self, array: np.ndarray) -> Value:
        array = np.require(array, requirements="C").view()  # 0-d stays 0-d; no copy
        array.setflags(write=False)  # on the view: the caller's array keeps its flags
        v = Value(TensorType.of(array.shape, array.dtype))
        self._params[v] = array
        return v

    def op(self, op: str, *inputs: Value, name: str = "", **attrs: Any) -> Value:
        outs = self.op_multi(op, *inputs, name=name, **attrs)
        if len(outs) != 1:
            raise ValueError(f"{op} has {len(outs)} outputs; use op_multi")
        return outs[0]

    def op_multi(self, op: str, *inputs: Value, name: str = "", **attrs: Any) -> tuple[Value, ...]:
        types = infer_types(op, tuple(v.type for v in inputs), attrs, self._describe(op, inputs))
        outs = tuple(Value(t) for t in types)
        self._nodes.append(Node(op, tuple(inputs), outs, MappingProxyType(dict(attrs)), name))
        return outs

    def _describe(self, op: str, inputs: Sequence[Value]) -> str:
        return f"%{len(self._nodes)} = {op} " + ", ".join(str(v.type) for v in inputs)

    def build(self, *outputs: Value) -> Graph:
        return Graph(tuple(self._inputs), MappingProxyType(dict(self._params)),
                     tuple(self._nodes), tuple(outputs), self.name)
