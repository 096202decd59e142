"""Lowering the QDQ form to integer ops: `Graph -> Graph`.

A quantized op in the QDQ form (passes/quantize.py) reads dequantized operands and its output,
perhaps through a relu or clip, goes straight to a quantize_linear:

    %x = dequantize_linear %xq, sx, zx        %w = dequantize_linear %wq, sw, zw
    %y = conv %x, %w[, dequantize_linear %bq]   [%y = relu %y]   %yq = quantize_linear %y, sy, zy

becomes one integer op, `%yq = qlinear_conv %xq, sx, zx, %wq, sw, zw, sy, zy[, %bq]` (gemm and
matmul become qlinear_matmul, a transposed weight stored as [K, N]; an add of two dequantized
values becomes qlinear_add). The relu or clip is exact
in the integer domain: quantize_linear is monotone, so Q(clip(y, a, b)) = clip(Q(y), Q(a), Q(b)),
and its bounds become the op's act_min / act_max. A max_pool, flatten or reshape between a
dequantize and a quantize of the same parameters runs on the 8-bit values themselves.
Dequantize nodes nobody reads any more, and params nobody reads, are dropped. Every other op
keeps running in float between its pairs.

Complexity: O(nodes).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from mlxa.ir.graph import Graph, Node, TensorType, Value
from mlxa.passes.quantize import CLAMPS, PASS_THROUGH


def lower_qdq(graph: Graph, rounding: str = "fixed_point") -> Graph:
    producers = graph.producers()
    consumers = graph.consumers()
    params = dict(graph.params)
    replace: dict[Node, Node | None] = {}  # node -> its integer op (at the Q's place), or None
    for node in graph.nodes:
        through = _pass_through(node, producers, consumers, params)
        if through is not None:
            replace[node] = None
            replace[consumers[node.output][0]] = through
            continue
        match = _match(node, producers, consumers, params)
        if match is None:
            continue
        chain, q_node = match
        lowered = _lowered(node, chain, q_node, producers, params, rounding)
        for n in (node, *chain):
            replace[n] = None
        replace[q_node] = lowered
    nodes = [replace.get(n, n) for n in graph.nodes]
    kept = _live([n for n in nodes if n is not None], graph.outputs)
    used = {v for n in kept for v in n.inputs} | set(graph.outputs)
    return graph.replace(nodes=tuple(kept), params=MappingProxyType(
        {v: a for v, a in params.items() if v in used}))


def _dq_of(v: Value, producers: Mapping[Value, Node]) -> Node | None:
    node = producers.get(v)
    return node if node is not None and node.op == "dequantize_linear" else None


def _pass_through(node: Node, producers: Mapping[Value, Node],
                  consumers: Mapping[Value, list[Node]],
                  params: Mapping[Value, np.ndarray]) -> Node | None:
    """max_pool, flatten or reshape between a dequantize and a quantize of the same parameters
    runs on the 8-bit values themselves: the same node, reading and writing 8 bits."""
    dq = _dq_of(node.inputs[0], producers) if node.op in PASS_THROUGH else None
    users = consumers.get(node.output, [])
    if dq is None or len(users) != 1 or users[0].op != "quantize_linear":
        return None
    q = users[0]
    same = all(np.array_equal(params[a], params[b]) and params[a].dtype == params[b].dtype
               for a, b in zip(dq.inputs[1:], q.inputs[1:]) if a in params and b in params)
    if not same or not all(v in params for v in (*dq.inputs[1:], *q.inputs[1:])):
        return None
    return Node(node.op, (dq.inputs[0], *node.inputs[1:]), q.outputs, node.attrs, node.name)


def _match(node: Node, producers: Mapping[Value, Node], consumers: Mapping[Value, list[Node]],
           params: Mapping[Value, np.ndarray]) -> tuple[list[Node], Node] | None:
    """The clamp chain and the quantize_linear of a lowerable node, or None."""
    if node.op not in ("conv", "gemm", "matmul", "add"):
        return None
    dqs = [_dq_of(v, producers) for v in node.inputs]
    weights = node.op != "add"  # the operands after the first are constants
    if any(d is None or (k and weights and d.inputs[0] not in params)
           for k, d in enumerate(dqs)):
        return None
    chain: list[Node] = []
    v = node.output
    while True:
        users = consumers.get(v, [])
        if len(users) != 1:
            return None
        user = users[0]
        if user.op == "quantize_linear" and user.inputs[0] is v:
            return chain, user
        if user.op not in CLAMPS or chain:
            return None
        chain.append(user)
        v = user.output


def _lowered(node: Node, chain: list[Node], q_node: Node, producers: Mapping[Value, Node],
             params: dict[Value, np.ndarray], rounding: str) -> Node:
    _, sy, zy = q_node.inputs
    if node.op == "add":
        a_dq, b2_dq = (producers[v] for v in node.inputs)
        add_attrs = {"rounding": rounding, **_clamp_bounds(chain, params[sy], params[zy])}
        return Node("qlinear_add", (*a_dq.inputs, *b2_dq.inputs, sy, zy), q_node.outputs,
                    MappingProxyType(add_attrs), node.name)
    x_dq, w_dq, *b_dq = (producers[v] for v in node.inputs)
    # conv keeps its window; gemm's transB is folded into the weight's [K, N] layout
    attrs = dict(node.attrs) if node.op == "conv" else {}
    attrs["rounding"] = rounding
    attrs.update(_clamp_bounds(chain, params[sy], params[zy]))
    w, sw, zw = w_dq.inputs
    if node.op == "gemm" and node.attrs.get("transB", 0):
        w = _param(params, np.ascontiguousarray(params[w].T))
    inputs = [*x_dq.inputs, w, sw, zw, sy, zy] + ([b_dq[0].inputs[0]] if b_dq else [])
    op = "qlinear_conv" if node.op == "conv" else "qlinear_matmul"
    return Node(op, tuple(inputs), q_node.outputs, MappingProxyType(attrs), node.name)


def _clamp_bounds(chain: list[Node], scale: np.ndarray, zero: np.ndarray) -> dict[str, int]:
    """A relu's or clip's bounds in the 8-bit domain: Q(a) and Q(b)."""
    if not chain:
        return {}
    info = np.iinfo(zero.dtype)

    def q(x: float) -> int:
        return int(np.clip(np.rint(np.float32(x) / scale) + int(zero), info.min, info.max))

    clamp = chain[0]
    lo = 0.0 if clamp.op == "relu" else clamp.attrs.get("min")
    hi = None if clamp.op == "relu" else clamp.attrs.get("max")
    bounds = {}
    if lo is not None and q(lo) > info.min:
        bounds["act_min"] = q(lo)
    if hi is not None and q(hi) < info.max:
        bounds["act_max"] = q(hi)
    return bounds


def _param(params: dict[Value, np.ndarray], array: np.ndarray) -> Value:
    array.setflags(write=False)
    v = Value(TensorType.of(array.shape, array.dtype))
    params[v] = array
    return v


def _live(nodes: list[Node], outputs: tuple[Value, ...]) -> list[Node]:
    """Drop nodes none of whose outputs is read (dead dequantizes), last to first."""
    needed = set(outputs)
    kept = []
    for node in reversed(nodes):
        if any(v in needed for v in node.outputs):
            kept.append(node)
            needed.update(node.inputs)
    return kept[::-1]

