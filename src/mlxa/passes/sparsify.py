"""Magnitude pruning: the weights of convs and linear layers with their smallest entries set to
zero, in one of four patterns, at an exact level.

A layer's weight is read as a matrix W[O, K] (a conv's O x C/group*kh*kw, a gemm's out x in):
  * unstructured: the round(level * O*K) entries of least |w| become 0 (ties by position);
  * block: blocks of BLOCK_ROWS output rows x one input column (a column segment, the unit the
    block-sparse kernel skips, studies/sparse_kernels.py), the round(level * blocks) of least
    L2 norm become 0; layers whose O is not a multiple of BLOCK_ROWS are left dense;
  * 2:4: in every group of 4 consecutive weights along K, the 2 of least |w| become 0 (level is
    0.5 by definition); layers whose K is not a multiple of 4 are left dense;
  * channel: whole output channels, coupled across a residual sum, chosen by L1 norm
    (passes/prune_channels.py); here their weights and bias become 0, there they are removed.
Weights that are not constants (graph parameters) are left alone. `prune_report` says, per
layer, how many zeros the weights hold and the FLOPs they make skippable. O(weights log weights).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from mlxa.errors import UserInputError
from mlxa.ir.graph import Graph, Node, Value
from mlxa.ops import get_op

PATTERNS = ("unstructured", "block", "2:4", "channel")
BLOCK_ROWS = 16
LAYER_OPS = ("conv", "gemm", "matmul")


@dataclass(frozen=True)
class SparsifySpec:
    """What to prune: a pattern of PATTERNS at `level`, the fraction of zeros (2:4: 0.5)."""

    pattern: str = "unstructured"
    level: float = 0.5

    def __post_init__(self) -> None:
        if self.pattern not in PATTERNS:
            raise UserInputError(f"sparsity pattern {self.pattern!r}: expected one of "
                                 f"{', '.join(PATTERNS)}")
        if not 0.0 <= self.level < 1.0 or (self.pattern == "2:4" and self.level != 0.5):
            raise UserInputError(f"sparsity level {self.level}: expected 0 <= level < 1 "
                                 "(2:4 is 0.5 by definition)")


@dataclass(frozen=True)
class LayerSparsity:
    """One layer's weight after pruning: zeros counted exactly; skippable FLOPs are the
    multiply-adds (2 FLOPs) of its zero weights over every output position."""

    name: str
    op: str
    weight_shape: tuple[int, ...]
    weights: int
    zeros: int
    flops: int
    skippable_flops: int
    pruned: bool

    @property
    def sparsity(self) -> float:
        return self.zeros / self.weights if self.weights else 0.0


def layers(graph: Graph) -> list[tuple[int, Node]]:
    """(index, node) of every conv, gemm and matmul whose weight is a constant."""
    return [(i, n) for i, n in enumerate(graph.nodes)
            if n.op in LAYER_OPS and len(n.inputs) > 1 and n.inputs[1] in graph.params]


def as_matrix(node: Node, w: np.ndarray) -> np.ndarray:
    """The weight as W[O, K] (a view where possible)."""
    if node.op == "conv":
        return w.reshape(w.shape[0], -1)
    if node.op == "gemm" and not node.attrs.get("transB", 0):
        return w.T
    if node.op == "matmul":
        return w.reshape(-1, w.shape[-1]).T
    return w


def mask(w: np.ndarray, pattern: str, level: float) -> np.ndarray | None:
    """Keep-mask of a W[O, K] (True: kept), or None when the pattern does not fit the layer."""
    o, k = w.shape
    if pattern == "unstructured":
        drop = round(level * w.size)
        keep = np.ones(w.size, bool)
        keep[np.argsort(np.abs(w), axis=None, kind="stable")[:drop]] = False
        return keep.reshape(w.shape)
    if pattern == "2:4":
        if k % 4:
            return None
        groups = np.abs(w).reshape(o, k // 4, 4)
        order = np.argsort(groups, axis=2, kind="stable")
        keep = np.ones(groups.shape, bool)
        np.put_along_axis(keep, order[:, :, :2], False, axis=2)
        return keep.reshape(o, k)
    if pattern == "block":
        if o % BLOCK_ROWS:
            return None
        norms = np.sqrt(np.square(w.reshape(o // BLOCK_ROWS, BLOCK_ROWS, k)).sum(axis=1))
        blocks = mask(norms, "unstructured", level)
        assert blocks is not None
        return np.repeat(blocks, BLOCK_ROWS, axis=0)
    raise ValueError(f"pattern {pattern!r} has no per-layer mask")


def sparsify(graph: Graph, spec: SparsifySpec) -> Graph:
    """The graph with its layers' weights pruned (`spec`); the channel pattern zeroes the
    channels prune_channels would remove (their weights and biases)."""
    if spec.pattern == "channel":
        from mlxa.passes.prune_channels import zero_channels

        return zero_channels(graph, spec.level)
    params = dict(graph.params)
    for _, node in layers(graph):
        w = graph.params[node.inputs[1]]
        keep = mask(as_matrix(node, np.asarray(w)), spec.pattern, spec.level)
        if keep is not None:
            pruned = np.array(w)
            as_matrix(node, pruned)[~keep] = 0
            pruned.setflags(write=False)
            params[node.inputs[1]] = pruned
    return graph.replace(params=MappingProxyType(params))


def prune_report(graph: Graph, original: Graph | None = None) -> tuple[LayerSparsity, ...]:
    """Per layer: exact zeros and skippable FLOPs; `pruned` when the weight differs from
    `original`'s (the same graph before pruning)."""
    rows = []
    for _, node in layers(graph):
        w = np.asarray(graph.params[node.inputs[1]])
        cost = get_op(node.op).cost([v.type for v in node.inputs],
                                    [v.type for v in node.outputs], node.attrs)
        zeros = int(w.size - np.count_nonzero(w))
        positions = _positions(node)
        changed = original is not None and not np.array_equal(
            w, original.params.get(node.inputs[1], w))
        rows.append(LayerSparsity(node.name or node.op, node.op, tuple(w.shape), int(w.size),
                                  zeros, cost.flops, 2 * zeros * positions, changed))
    return tuple(rows)


def _positions(node: Node) -> int:
    """How many times each weight is used: output positions (a conv's N*oh*ow, a gemm's M)."""
    out: Value = node.outputs[0]
    if node.op == "conv":
        return out.shape[0] * math.prod(out.shape[2:])
    return math.prod(out.shape[:-1])


def sparsify_or_prune(graph: Graph, spec: SparsifySpec) -> Graph:
    """The compiler's form: zeros in the weights, except the channel pattern, whose channels are
    removed (a dense kernel gains nothing from zeros; it does from smaller convs)."""
    if spec.pattern == "channel":
        from mlxa.passes.prune_channels import prune_channels

        return prune_channels(graph, spec.level)
    return sparsify(graph, spec)
