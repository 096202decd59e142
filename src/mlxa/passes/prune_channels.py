"""Channel pruning applied physically: output channels removed from convs, and the same channels
cut from whatever reads them (the next conv's input channels, a depthwise conv's channels, a
linear layer's input features), so the network runs smaller convs.

Channels are coupled: a residual sum needs its operands to keep the same channels, a depthwise
conv or pooling passes its input's channels through. So the pass first finds channel groups
(union-find over 4-D values, O(nodes + edges)): a conv (group 1) starts a group at its output;
batch norm, pooling, depthwise convs and same-shape elementwise ops tie their output to their
inputs; flatten and a linear layer (gemm) read a group. A group that reaches anything else
(a graph output or input, a reshape, a concat, an op with a per-channel constant) is frozen and
keeps every channel. In each free group the round(level * C) channels of least L1 weight norm
(summed over the group's convs, each normalised by its mean) go. Batch norms are folded first,
so a removed channel is exactly zero before removal: `zero_channels` (the mask form) and
`prune_channels` (the removal) compute the same outputs, which the tests check.
"""

from __future__ import annotations

import math
from types import MappingProxyType

import numpy as np

from mlxa.ir.graph import Graph, Node, TensorType, Value
from mlxa.ops import get_op, infer_types
from mlxa.passes.fold_batch_norm import fold_batch_norm

THROUGH = ("batch_norm", "max_pool", "avg_pool", "global_avg_pool")


class _Groups:
    """Union-find over channel groups; a group is named by a representative value."""

    def __init__(self) -> None:
        self.parent: dict[Value, Value] = {}
        self.frozen: set[Value] = set()

    def find(self, v: Value) -> Value:
        self.parent.setdefault(v, v)
        while self.parent[v] is not v:
            self.parent[v] = self.parent[self.parent[v]]
            v = self.parent[v]
        return v

    def union(self, a: Value, b: Value) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra is not rb:
            self.parent[rb] = ra
            if rb in self.frozen:
                self.frozen.add(ra)

    def freeze(self, v: Value) -> None:
        self.frozen.add(self.find(v))


def _depthwise(node: Node) -> bool:
    return node.op == "conv" and int(node.attrs.get("group", 1)) == node.inputs[0].shape[1] > 1


def channel_groups(graph: Graph) -> _Groups:
    groups = _Groups()
    channelled = {v for v in graph.inputs if len(v.shape) == 4}
    for v in channelled:
        groups.freeze(v)
    flat: set[Value] = set()
    for node in graph.nodes:
        _visit(node, graph, groups, channelled, flat)
    for v in graph.outputs:
        if v in channelled or v in flat:
            groups.freeze(v)
    return groups


def _visit(node: Node, graph: Graph, groups: _Groups, channelled: set[Value],
           flat: set[Value]) -> None:
    acts = [v for v in node.inputs if v in channelled or v in flat]
    out = node.outputs[0]
    if node.op == "conv" and int(node.attrs.get("group", 1)) == 1:
        channelled.add(out)
        groups.find(out)
        return
    if node.op == "gemm" and acts == [node.inputs[0]] and node.inputs[1] in graph.params:
        return  # reads its input features: cut, never pruned itself
    if node.op == "flatten" and acts and int(node.attrs.get("axis", 1)) == 1:
        flat.add(out)
        groups.union(acts[0], out)
        return
    same = all(v in channelled and v.shape == out.shape or v.type.size == 1
               for v in node.inputs)
    passes = (node.op in THROUGH or _depthwise(node)
              or (get_op(node.op).ew is not None and same))
    if acts and passes and len(node.outputs) == 1 and len(out.shape) == 4:
        channelled.add(out)
        for v in acts:
            groups.union(acts[0], v)
        groups.union(acts[0], out)
        return
    for v in acts:
        groups.freeze(v)


def _keep_sets(graph: Graph, groups: _Groups, level: float) -> dict[Value, np.ndarray]:
    """Representative -> indices of the channels kept, for every free group."""
    scores: dict[Value, np.ndarray] = {}
    for node in graph.nodes:
        if node.op == "conv" and int(node.attrs.get("group", 1)) == 1:
            root = groups.find(node.outputs[0])
            w = np.abs(np.asarray(graph.params[node.inputs[1]], np.float64))
            norms = w.reshape(w.shape[0], -1).sum(axis=1)
            norms /= norms.mean() or 1.0
            scores[root] = scores.get(root, 0) + norms
    keep = {}
    for root, s in scores.items():
        if root in groups.frozen:
            continue
        n_keep = max(1, len(s) - round(level * len(s)))
        keep[root] = np.sort(np.argsort(-s, kind="stable")[:n_keep])
    return keep


def _kept(v: Value, graph: Graph, groups: _Groups, keep: dict[Value, np.ndarray]) -> np.ndarray:
    return keep.get(groups.find(v), np.arange(v.shape[1]))


def zero_channels(graph: Graph, level: float) -> Graph:
    """The mask form: every weight prune_channels removes set to zero (the removed channels'
    conv weights and biases, and the weights that read them: input channels of the next convs,
    input features of a linear layer)."""
    graph = fold_batch_norm(graph)
    groups = channel_groups(graph)
    keep = _keep_sets(graph, groups, level)
    params = dict(graph.params)

    def zero(v: Value, index: tuple) -> None:  # type: ignore[type-arg]
        a = np.array(params[v])
        a[index] = 0
        a.setflags(write=False)
        params[v] = a

    for node in graph.nodes:
        if node.op == "conv":
            out = _dropped(node.outputs[0], groups, keep)
            for v in node.inputs[1:]:
                zero(v, (out,))
            if not _depthwise(node):
                zero(node.inputs[1], (slice(None), _dropped(node.inputs[0], groups, keep)))
        elif node.op == "gemm" and groups.find(node.inputs[0]) in keep:
            kept = _features(node.inputs[0], graph, groups, keep)
            cols = np.setdiff1d(np.arange(node.inputs[0].shape[1]), kept)
            zero(node.inputs[1], (slice(None), cols) if node.attrs.get("transB", 0) else (cols,))
    return graph.replace(params=MappingProxyType(params))


def _dropped(v: Value, groups: _Groups, keep: dict[Value, np.ndarray]) -> np.ndarray:
    root = groups.find(v)
    if root not in keep:
        return np.zeros(0, np.int64)
    return np.setdiff1d(np.arange(v.shape[1]), keep[root])


def prune_channels(graph: Graph, level: float) -> Graph:
    """The removal: smaller convs, and the next layers' inputs cut to match."""
    graph = fold_batch_norm(graph)
    groups = channel_groups(graph)
    keep = _keep_sets(graph, groups, level)
    new: dict[Value, Value] = {v: v for v in graph.inputs}
    params: dict[Value, np.ndarray] = {}

    def param(array: np.ndarray) -> Value:
        array = np.ascontiguousarray(array)
        array.setflags(write=False)
        v = Value(TensorType.of(array.shape, array.dtype))
        params[v] = array
        return v

    nodes = []
    for i, node in enumerate(graph.nodes):
        ins, attrs = _cut(node, graph, groups, keep, new, param)
        types = infer_types(node.op, [v.type for v in ins], attrs, f"%{i} = {node.op} (pruned)")
        outs = tuple(Value(t) for t in types)
        new.update(zip(node.outputs, outs))
        nodes.append(Node(node.op, ins, outs, MappingProxyType(attrs), node.name))
    return Graph(graph.inputs, MappingProxyType(params), tuple(nodes),
                 tuple(new[v] for v in graph.outputs), graph.name)


def _cut(node: Node, graph: Graph, groups: _Groups, keep: dict[Value, np.ndarray],
         new: dict[Value, Value], param) -> tuple[tuple[Value, ...], dict]:  # type: ignore[no-untyped-def]
    """The node's inputs with its parameters sliced to the kept channels, and its attrs."""
    attrs = dict(node.attrs)
    x = node.inputs[0]
    if node.op == "conv":
        out_keep = _kept(node.outputs[0], graph, groups, keep)
        w = np.asarray(graph.params[node.inputs[1]])[out_keep]
        if _depthwise(node):
            attrs["group"] = len(out_keep)
        else:
            w = w[:, _kept(x, graph, groups, keep)]
        rest = [np.asarray(graph.params[v])[out_keep] for v in node.inputs[2:]]
        return (new[x], param(w), *(param(a) for a in rest)), attrs
    if node.op == "batch_norm":
        kept = _kept(x, graph, groups, keep)
        return (new[x], *(param(np.asarray(graph.params[v])[kept])
                          for v in node.inputs[1:])), attrs
    if node.op == "gemm" and groups.find(x) in keep and node.inputs[1] in graph.params:
        cols = _features(x, graph, groups, keep)
        w = np.asarray(graph.params[node.inputs[1]])
        w = w[:, cols] if attrs.get("transB", 0) else w[cols]
        rest = [param(np.asarray(graph.params[v])) for v in node.inputs[2:]]
        return (new[x], param(w), *rest), attrs
    return tuple(new[v] if v in new else param(np.asarray(graph.params[v]))
                 for v in node.inputs), attrs


def _features(x: Value, graph: Graph, groups: _Groups, keep: dict[Value, np.ndarray]) -> np.ndarray:
    """The input features of a flattened [N, C*inner] value that the kept channels hold."""
    producer = graph.producers()[x]
    src = producer.inputs[0]
    inner = math.prod(src.shape[2:])
    kept = _kept(src, graph, groups, keep)
    return (kept[:, None] * inner + np.arange(inner)[None, :]).reshape(-1)
