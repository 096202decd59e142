"""Folding inference batch_norm into the conv before it: conv(x, w, b) then batch_norm becomes
one conv(x, w * s, (b - mean) * s + bias) with s = scale / sqrt(var + eps) per output channel.

A pair folds when the conv's result feeds only the batch_norm (and is not a graph output) and the
conv weight and bias and the batch_norm statistics are parameters. The new weights are computed
in float64 and stored in the conv's dtype. The folded conv keeps the batch_norm's output value,
so consumers and graph outputs are untouched, and sits at the conv's place in program order.
Parameters nothing reads any more are dropped. O(nodes + parameter elements).
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from mlxa.ir.graph import Graph, Node, TensorType, Value


def fold_batch_norm(graph: Graph) -> Graph:
    consumers = graph.consumers()
    outputs = set(graph.outputs)
    params = dict(graph.params)
    folded: dict[int, Node] = {}  # conv index -> folded conv
    removed: set[int] = set()  # batch_norm indices
    index = {id(n): i for i, n in enumerate(graph.nodes)}
    for i, node in enumerate(graph.nodes):
        if node.op != "conv" or node.output in outputs:
            continue
        users = consumers.get(node.output, [])
        if len(users) != 1 or users[0].op != "batch_norm" or users[0].inputs[0] is not node.output:
            continue
        bn = users[0]
        if not all(v in params for v in node.inputs[1:] + bn.inputs[1:]):
            continue
        folded[i] = _folded_conv(node, bn, params)
        removed.add(index[id(bn)])
    if not folded:
        return graph
    nodes = tuple(folded.get(i, n) for i, n in enumerate(graph.nodes) if i not in removed)
    used = {v for n in nodes for v in n.inputs} | set(graph.outputs)
    kept = {v: a for v, a in params.items() if v in used}
    return graph.replace(nodes=nodes, params=MappingProxyType(kept))


def _folded_conv(conv: Node, bn: Node, params: dict[Value, np.ndarray]) -> Node:
    w = params[conv.inputs[1]]
    scale, bias, mean, var = (params[v].astype(np.float64) for v in bn.inputs[1:])
    s = scale / np.sqrt(var + float(bn.attrs.get("epsilon", 1e-5)))
    b = params[conv.inputs[2]].astype(np.float64) if len(conv.inputs) == 3 else 0.0
    new_w = _param(params, (w.astype(np.float64) * s.reshape(-1, 1, 1, 1)).astype(w.dtype))
    new_b = _param(params, ((b - mean) * s + bias).astype(w.dtype))
    return Node("conv", (conv.inputs[0], new_w, new_b), bn.outputs, conv.attrs,
                conv.name or bn.name)


def _param(params: dict[Value, np.ndarray], array: np.ndarray) -> Value:
    array = np.ascontiguousarray(array)
    array.setflags(write=False)
    v = Value(TensorType.of(array.shape, array.dtype))
    params[v] = array
    return v
