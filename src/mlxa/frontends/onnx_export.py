"""ONNX export: `to_onnx(graph, opset=20) -> onnx.ModelProto`, so real compilers (ONNX Runtime,
TVM, ...) can run our graphs.

Every IR op maps to one ONNX node, or a few where ONNX lacks it (silu; gelu before opset 20);
`fused` nodes are expanded back into their steps. Names follow the printer's numbering (`v3` is
%3), so an exported model reads like the printed graph. Attributes that are tensors in ONNX
(Reshape's shape, Slice's starts, Clip's bounds) become initializers. IR version 10, which ONNX
Runtime accepts; opsets 17 to 20.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from mlxa.errors import UnsupportedOpError, UserInputError
from mlxa.frontends import onnx_export_layout  # noqa: F401  (registers the layout ops)
from mlxa.frontends.onnx_export_ops import EXPORTERS
from mlxa.ir.graph import Graph, TensorType, Value
from mlxa.ops import get_op

OPSETS = range(17, 21)
IR_VERSION = 10


@dataclass
class Exporter:
    """The ONNX graph under construction: nodes, initializers and fresh names."""

    opset: int
    nodes: list[Any] = field(default_factory=list)
    initializers: list[Any] = field(default_factory=list)
    _count: int = 0

    def fresh(self, hint: str = "t") -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, array: Any, dtype: Any = None, hint: str = "c") -> str:
        from onnx import numpy_helper

        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array, dtype), name))
        return name

    def node(self, op_type: str, inputs: Sequence[str], outputs: Sequence[str],
             **attrs: Any) -> None:
        from onnx import helper

        self.nodes.append(helper.make_node(op_type, list(inputs), list(outputs),
                                           name=self.fresh(op_type.lower()), **attrs))


def to_onnx(graph: Graph, opset: int = 20) -> Any:
    """The graph as an ONNX model (inputs input_0.., outputs as numbered values)."""
    from onnx import helper, numpy_helper

    if opset not in OPSETS:
        raise UserInputError(f"ONNX export supports opsets {OPSETS[0]} to {OPSETS[-1]}, "
                             f"not {opset}")
    names = _names(graph)
    ex = Exporter(opset)
    ex.initializers += [numpy_helper.from_array(np.asarray(a), names[v])
                        for v, a in graph.params.items()]
    for node in graph.nodes:
        _export_node(ex, node.op, node.inputs, node.outputs, node.attrs, names)
    outputs = []
    for i, v in enumerate(graph.outputs):
        name = f"output_{i}"
        ex.node("Identity", [names[v]], [name])
        outputs.append(_info(name, v.type))
    inputs = [_info(names[v], v.type) for v in graph.inputs]
    values = [_info(names[v], v.type) for n in graph.nodes for v in n.outputs]
    onnx_graph = helper.make_graph(ex.nodes, graph.name, inputs, outputs, ex.initializers,
                                   value_info=values)
    return helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=IR_VERSION, producer_name="mlxa")


def _names(graph: Graph) -> dict[Value, str]:
    names = {v: f"input_{i}" for i, v in enumerate(graph.inputs)}
    order = list(graph.params) + [v for n in graph.nodes for v in n.outputs]
    names.update({v: f"v{i + len(graph.inputs)}" for i, v in enumerate(order)})
    return names


def _info(name: str, t: TensorType) -> Any:
    from onnx import helper

    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(t.dtype),
                                         list(t.shape))


def _export_node(ex: Exporter, op: str, inputs: Sequence[Value], outputs: Sequence[Value],
                 attrs: Mapping[str, Any], names: Mapping[Value, str]) -> None:
    in_names = [names[v] for v in inputs]
    out_names = [names[v] for v in outputs]
    in_types = [v.type for v in inputs]
    if op == "fused":
        _export_fused(ex, in_names, in_types, out_names[0], attrs)
        return
    if op not in EXPORTERS:
        raise UnsupportedOpError(f"no ONNX export for op {op!r}")
    EXPORTERS[op](ex, in_names, in_types, out_names, attrs)


def _export_fused(ex: Exporter, ins: list[str], types: list[TensorType], out: str,
                  attrs: Mapping[str, Any]) -> None:
    """Each step as its own ONNX node; -1 operands read the previous step's result."""
    steps = attrs["steps"]
    prev_name, prev_type = "", types[0]  # step 0 reads no previous result
    for k, (op, operands, items) in enumerate(steps):
        step_attrs = MappingProxyType(dict(items))
        step_ins = [prev_name if j < 0 else ins[j] for j in operands]
        step_types = [prev_type if j < 0 else types[j] for j in operands]
        (prev_type,) = get_op(op).shape(step_types, step_attrs)  # type: ignore[arg-type]
        prev_name = out if k == len(steps) - 1 else ex.fresh("fused")
        EXPORTERS[op](ex, step_ins, step_types, [prev_name], step_attrs)
