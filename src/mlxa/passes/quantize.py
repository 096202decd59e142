"""Post-training quantization to the QDQ form: `Graph -> Graph`, float ops between
quantize_linear / dequantize_linear pairs that say which values are 8-bit.

What is quantized (the scheme of TFLite's and ONNX Runtime's static quantization):
  * weights of conv, gemm and matmul with a constant weight: int8, symmetric ([-127, 127], zero
    point 0), one scale per output channel; their bias int32 with scale s_x * s_w[c];
  * activations, one scale per tensor: the input of each such op, its output (after a relu or
    clip that alone consumes it, so the clamp is part of the 8-bit range), the output of an
    add whose operands are both quantized (residual sums), and the output of a pool, flatten or
    reshape of a quantized value (max_pool, flatten and reshape keep their input's parameters,
    as ONNX Runtime's quantizer does); uint8 asymmetric or int8 symmetric
    (`QuantizeSpec.activations`), ranges from calibration (analysis/calibration.py).
Each quantized value gets one quantize_linear -> dequantize_linear pair, read by all its
consumers. Nothing else changes: every float op still runs in float, on dequantized values.
lower_qdq.py then replaces each quantized op and its pairs with an integer op.

Complexity: O(nodes) plus calibration (one float run per batch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from mlxa.analysis.calibration import METHODS, QParams, calibrate
from mlxa.errors import UserInputError
from mlxa.ir.graph import Graph, Node, TensorType, Value
from mlxa.ops import infer_types

ACTIVATIONS = {"u8": np.dtype(np.uint8), "s8": np.dtype(np.int8)}
CLAMPS = ("relu", "clip")
# Ops whose 8-bit output can keep its input's scale and zero point (max and relabelling keep
# the levels), and averages, whose output range is calibrated on its own.
PASS_THROUGH = ("max_pool", "flatten", "reshape")
AVERAGES = ("global_avg_pool", "avg_pool")


@dataclass(frozen=True, eq=False)
class QuantizeSpec:
    """How to quantize: calibration batches (each a tuple of the graph's inputs), the method,
    the activation type, the requantization rounding and whether to lower to integer ops."""

    batches: tuple[tuple[np.ndarray, ...], ...]
    method: str = "minmax"
    activations: str = "u8"
    percentile: float = 99.99
    rounding: str = "fixed_point"
    integer: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise UserInputError(f"calibration {self.method!r}: expected one of "
                                 f"{', '.join(METHODS)}")
        if self.activations not in ACTIVATIONS:
            raise UserInputError(f"activations {self.activations!r}: expected u8 or s8")
        if not self.batches:
            raise UserInputError("quantization needs at least one calibration batch")

    @property
    def dtype(self) -> np.dtype:
        return ACTIVATIONS[self.activations]


def weight_index(node: Node, params: Mapping[Value, np.ndarray]) -> int | None:
    """The constant weight operand of a quantizable node (its bias constant too), or None."""
    if any(v not in params for v in node.inputs[1:]):
        return None
    if node.op == "conv" and node.inputs[1] in params:
        return 1
    if node.op == "gemm" and node.inputs[1] in params and _plain_gemm(node):
        return 1
    if node.op == "matmul" and node.inputs[1] in params and len(node.inputs[1].shape) == 2:
        return 1
    return None


def _plain_gemm(node: Node) -> bool:
    a = node.attrs
    return (not a.get("transA", 0) and a.get("alpha", 1.0) == 1.0 and a.get("beta", 1.0) == 1.0
            and (len(node.inputs) == 2 or node.inputs[2].shape == (node.output.shape[1],)))


def weight_axis(node: Node) -> int:
    """The output-channel axis of the weight: conv's O, gemm's N (transB: axis 0), matmul's N."""
    if node.op == "conv" or (node.op == "gemm" and node.attrs.get("transB", 0)):
        return 0
    return 1


def quantized_values(graph: Graph) -> tuple[list[Value], dict[Value, Value]]:
    """The activations to quantize, in program order (see the module docstring), and those
    that share another's parameters: a pass-through op's output shares its input's."""
    consumers = graph.consumers()
    chosen: dict[Value, None] = {}
    shares: dict[Value, Value] = {}
    for node in graph.nodes:
        if weight_index(node, graph.params) is not None:
            chosen[node.inputs[0]] = None
            chosen[clamped_output(node.output, consumers)] = None
        elif node.op == "add" and all(v in chosen for v in node.inputs):
            chosen[clamped_output(node.output, consumers)] = None
        elif node.op in PASS_THROUGH + AVERAGES and node.inputs[0] in chosen:
            chosen[node.output] = None
            if node.op in PASS_THROUGH:
                shares[node.output] = node.inputs[0]
    return [v for v in chosen if v not in graph.params], shares


def clamped_output(v: Value, consumers: Mapping[Value, list[Node]]) -> Value:
    """v, or the relu/clip that alone consumes it (its clamp becomes part of the range)."""
    users = consumers.get(v, [])
    if len(users) == 1 and users[0].op in CLAMPS and users[0].inputs[0] is v:
        return users[0].output
    return v


def quantize_qdq(graph: Graph, spec: QuantizeSpec) -> Graph:
    """The QDQ form of `graph` (module docstring); unchanged when nothing is quantizable."""
    values, shares = quantized_values(graph)
    if not values:
        return graph
    own = [v for v in values if v not in shares]
    qparams = dict(calibrate(graph, spec.batches, own, spec.method, spec.dtype, spec.percentile))
    for v in values:  # program order: a chain of pass-through ops resolves front to back
        if v in shares:
            qparams[v] = qparams[shares[v]]
    return _Rewriter(graph, qparams).run()


class _Rewriter:
    """Builds the QDQ graph node by node: a weight's quantized param and dequantize before its
    op, a quantize -> dequantize pair after each quantized value."""

    def __init__(self, graph: Graph, qparams: Mapping[Value, QParams]) -> None:
        self.graph, self.qparams = graph, qparams
        self.params: dict[Value, np.ndarray] = {}
        self.nodes: list[Node] = []
        self.subst: dict[Value, Value] = {}

    def run(self) -> Graph:
        for v in self.graph.inputs:
            self._pair(v)
        dropped: set[Value] = set()
        for node in self.graph.nodes:
            k = weight_index(node, self.graph.params)
            inputs = [self.subst.get(v, v) for v in node.inputs]
            if k is not None:
                inputs[k:] = self._weights(node, inputs[0], k)
                dropped.update(node.inputs[k:])
            self.nodes.append(Node(node.op, tuple(inputs), node.outputs, node.attrs, node.name))
            for v in node.outputs:
                self._pair(v)
        params = {v: a for v, a in self.graph.params.items() if v not in dropped}
        params.update(self.params)
        used = {v for n in self.nodes for v in n.inputs}
        outputs = tuple(self.subst.get(v, v) for v in self.graph.outputs)
        return self.graph.replace(params=MappingProxyType(
            {v: a for v, a in params.items() if v in used or v in outputs}),
            nodes=tuple(self.nodes), outputs=outputs)

    def _param(self, array: np.ndarray) -> Value:
        array = np.require(array, requirements="C").copy()  # 0-d stays 0-d
        array.setflags(write=False)
        v = Value(TensorType.of(array.shape, array.dtype))
        self.params[v] = array
        return v

    def _node(self, op: str, inputs: Sequence[Value], name: str, **attrs: Any) -> Value:
        where = f"{op} for {name or 'an input'}"
        (t,) = infer_types(op, [v.type for v in inputs], attrs, where)
        out = Value(t)
        self.nodes.append(Node(op, tuple(inputs), (out,), MappingProxyType(attrs), name))
        return out

    def _pair(self, v: Value) -> None:
        q = self.qparams.get(v)
        if q is None:
            return
        scale = self._param(np.array(q.scale, np.float32))
        zero = self._param(np.array(q.zero_point, q.dtype))
        qv = self._node("quantize_linear", [v, scale, zero], "")
        self.subst[v] = self._node("dequantize_linear", [qv, scale, zero], "")

    def _weights(self, node: Node, x: Value, k: int) -> list[Value]:
        """The weight (and bias) as 8-bit (32-bit) params, each dequantized."""
        w = np.asarray(self.graph.params[node.inputs[k]], np.float32)
        axis = weight_axis(node)
        w_q, w_scale = quantize_weight(w, axis)
        scale = self._param(w_scale)
        deq = [self._node("dequantize_linear",
                          [self._param(w_q), scale, self._param(np.zeros(w_scale.shape, np.int8))],
                          node.name, axis=axis)]
        if len(node.inputs) > k + 1:
            b = np.asarray(self.graph.params.get(node.inputs[k + 1]), np.float32)
            b_scale = (np.float32(self.qparams[node.inputs[0]].scale) * w_scale).astype(np.float32)
            b_q = np.clip(np.rint(b / b_scale), -(2 ** 31), 2 ** 31 - 1).astype(np.int32)
            deq.append(self._node("dequantize_linear",
                                  [self._param(b_q), self._param(b_scale),
                                   self._param(np.zeros(b_scale.shape, np.int32))],
                                  node.name, axis=0))
        return deq


def quantize_weight(w: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per output channel: w_q in [-127, 127], scale = max|w_c| / 127."""
    reduce_axes = tuple(i for i in range(w.ndim) if i != axis)
    absmax = np.max(np.abs(w), axis=reduce_axes)
    scale = np.where(absmax > 0, absmax / 127.0, 1.0).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    w_q = np.clip(np.rint(w / scale.reshape(shape)), -127, 127).astype(np.int8)
    return w_q, scale
