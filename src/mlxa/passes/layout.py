"""The layout pass: nchw activations become nhwc or blocked nchwc, region by region.

As TVM's ConvertLayout: a whole region converts, and `relayout` nodes (the transposes) appear
only at its boundaries, never around every conv. In one walk in program order:

  * anchors convert always: conv (group 1 or depthwise, constant weights), max_pool, avg_pool,
    batch_norm (constant statistics), global_avg_pool (which writes nchw [N, C, 1, 1] itself,
    so a classifier head needs no transpose back);
  * an elementwise op converts when one of its operands is already converted and every other
    operand has its shape or is a scalar (layout does not matter to it);
  * any other consumer of a converted value, and a graph output, reads it through one relayout
    back to nchw; a converted node reading a nchw value through one relayout in. Each value is
    relayouted at most once per direction (cached), so a value read by several nodes costs one.

Weights are relayouted once, here: OIHW becomes HWIO (kh, kw, C/group, O). In nchwc the
channels are padded up to the block with zero weights, bias and batch-norm scale (see
ops/layouts.py for why padded channels never reach a real one). The invariant: the converted
graph computes the same outputs (tests run the oracle on it). O(nodes + edges).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from mlxa.ir.graph import Graph, Node, TensorType, Value
from mlxa.machine.cpu import cpu_flags
from mlxa.ops import get_op, infer_types
from mlxa.ops.layouts import padded_channels

ANCHORS = ("conv", "max_pool", "avg_pool", "batch_norm", "global_avg_pool")


def simd_floats(flags: frozenset[str] | None = None) -> int:
    """float32 lanes of this CPU's widest vectors: avx512f 16, avx2 8, else 4 (SSE, NEON)."""
    flags = cpu_flags() if flags is None else flags
    return 16 if "avx512f" in flags else 8 if "avx2" in flags else 4


@dataclass
class _Walk:
    layout: str
    block: int
    params: dict[Value, np.ndarray]
    nodes: list[Node] = field(default_factory=list)
    new: dict[Value, Value] = field(default_factory=dict)  # original -> converted value
    old: dict[Value, Value] = field(default_factory=dict)  # original -> its nchw value

    def emit(self, op: str, inputs: tuple[Value, ...], attrs: Mapping[str, Any],
             name: str = "") -> Value:
        where = f"%{len(self.nodes)} = {op} (layout pass)"
        types = infer_types(op, [v.type for v in inputs], attrs, where)
        outs = tuple(Value(t) for t in types)
        self.nodes.append(Node(op, inputs, outs, MappingProxyType(dict(attrs)), name))
        return outs[0]

    def param(self, array: np.ndarray) -> Value:
        array = np.ascontiguousarray(array)
        array.setflags(write=False)
        v = Value(TensorType.of(array.shape, array.dtype))
        self.params[v] = array
        return v

    def as_new(self, v: Value) -> Value:
        if v not in self.new:
            attrs = {"src": "nchw", "dst": self.layout, "block": self.block}
            self.new[v] = self.emit("relayout", (self.old[v],), attrs)
        return self.new[v]

    def as_old(self, v: Value) -> Value:
        if v not in self.old:
            attrs = {"src": self.layout, "dst": "nchw", "block": self.block,
                     "channels": v.shape[1]}
            self.old[v] = self.emit("relayout", (self.new[v],), attrs)
        return self.old[v]


def convert_layout(graph: Graph, layout: str, block: int = 0) -> Graph:
    """The graph with its convertible regions in `layout` (nhwc or nchwc; block 0: this CPU's
    SIMD width in floats)."""
    if layout == "nchw":
        return graph
    block = block or simd_floats()
    walk = _Walk(layout, block if layout == "nchwc" else 0, dict(graph.params))
    walk.old.update({v: v for v in (*graph.inputs, *graph.params)})
    for node in graph.nodes:
        if not _convert(walk, node, graph.params):
            ins = tuple(walk.as_old(v) for v in node.inputs)
            walk.nodes.append(Node(node.op, ins, node.outputs, node.attrs, node.name))
            walk.old.update({v: v for v in node.outputs})
    outputs = tuple(walk.as_old(v) for v in graph.outputs)
    used = {v for n in walk.nodes for v in n.inputs}
    params = {v: a for v, a in walk.params.items() if v in used or v in outputs}
    return Graph(graph.inputs, MappingProxyType(params), tuple(walk.nodes), outputs, graph.name)


def relayouts(graph: Graph) -> int:
    """How many relayout (transpose) nodes the graph runs."""
    return sum(n.op == "relayout" for n in graph.nodes)


def _convert(walk: _Walk, node: Node, params: Mapping[Value, np.ndarray]) -> bool:
    """Emit the converted node and return True, or return False to keep it in nchw."""
    ins = node.inputs
    if not ins or len(ins[0].shape) != 4 or ins[0] in params or ins[0].dtype.kind != "f":
        return False
    if node.op in ANCHORS:
        if not all(v in params for v in ins[1:]):
            return False
        rule = {"conv": _conv, "batch_norm": _batch_norm, "global_avg_pool": _global}.get(
            node.op, _pool)
        return rule(walk, node, params)
    op = get_op(node.op)
    if op.ew is None or len(node.outputs) != 1 or not any(v in walk.new for v in ins):
        return False
    if not all(v.shape == node.output.shape or v.type.size == 1 for v in ins):
        return False
    new_ins = tuple(walk.as_new(v) if v.shape == node.output.shape else walk.old[v]
                    for v in ins)
    walk.new[node.output] = walk.emit(node.op, new_ins, node.attrs, node.name)
    return True


def _attrs(walk: _Walk, node: Node, **extra: Any) -> dict[str, Any]:
    return {**node.attrs, "layout": walk.layout, "block": walk.block, **extra}


def _pad(array: np.ndarray, axis: int, size: int, value: float = 0.0) -> np.ndarray:
    widths = [(0, 0)] * array.ndim
    widths[axis] = (0, size - array.shape[axis])
    return np.pad(array, widths, constant_values=value)


def _channels(walk: _Walk, c: int) -> int:
    return padded_channels(c, walk.block) if walk.layout == "nchwc" else c


def _conv(walk: _Walk, node: Node, params: Mapping[Value, np.ndarray]) -> bool:
    x, w = node.inputs[0], params[node.inputs[1]]
    c, group = x.shape[1], int(node.attrs.get("group", 1))
    depthwise = group > 1 and group == c and w.shape[:2] == (c, 1)
    if group > 1 and not depthwise:
        return False
    hwio = w.transpose(2, 3, 1, 0)  # [kh, kw, C/group, O]
    cp, op = _channels(walk, c), _channels(walk, w.shape[0])
    hwio = _pad(hwio, 3, op)
    if not depthwise:
        hwio = _pad(hwio, 2, cp)
    ins = [walk.as_new(x), walk.param(hwio)]
    if len(node.inputs) == 3:
        ins.append(walk.param(_pad(params[node.inputs[2]], 0, op)))
    attrs = _attrs(walk, node, group=cp if depthwise else 1)
    walk.new[node.output] = walk.emit("conv_cl", tuple(ins), attrs, node.name)
    return True


def _pool(walk: _Walk, node: Node, params: Mapping[Value, np.ndarray]) -> bool:
    attrs = _attrs(walk, node, mode="max" if node.op == "max_pool" else "avg")
    walk.new[node.output] = walk.emit("pool_cl", (walk.as_new(node.inputs[0]),), attrs,
                                      node.name)
    return True


def _batch_norm(walk: _Walk, node: Node, params: Mapping[Value, np.ndarray]) -> bool:
    cp = _channels(walk, node.inputs[0].shape[1])
    stats = [walk.param(_pad(params[v], 0, cp, fill))
             for v, fill in zip(node.inputs[1:], (0.0, 0.0, 0.0, 1.0))]
    ins = (walk.as_new(node.inputs[0]), *stats)
    walk.new[node.output] = walk.emit("batch_norm_cl", ins, _attrs(walk, node), node.name)
    return True


def _global(walk: _Walk, node: Node, params: Mapping[Value, np.ndarray]) -> bool:
    attrs = _attrs(walk, node, channels=node.inputs[0].shape[1])
    walk.old[node.output] = walk.emit("global_avg_pool_cl", (walk.as_new(node.inputs[0]),),
                                      attrs, node.name)
    return True
