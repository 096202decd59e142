"""Shape ops: reshape, flatten, squeeze, unsqueeze, identity (same data, new shape), transpose,
expand, concat and split (data moved).

Eager, the ops that only re-label a contiguous buffer return views, as numpy and PyTorch do: no
copy, no allocation. Compiled, every value has its own planned buffer, so they copy into it.
Shapes in attributes are concrete: the ONNX importer resolves 0 and -1 before building the node
(reshape still accepts one -1, resolved by its shape rule).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from mlxa.errors import ShapeError
from mlxa.ir.graph import TensorType
from mlxa.ops import memory
from mlxa.ops.table import Attrs, OpDef, broadcast_shape, register, same_dtype

Arrays = Sequence[np.ndarray]


def norm_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ShapeError(f"axis {axis} out of range for rank {rank}")
    return axis % rank


def _no_flops(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    return 0


# -- same data, new shape ------------------------------------------------------------------------

def reshape_target(shape: tuple[int, ...], target: Sequence[int]) -> tuple[int, ...]:
    target = tuple(int(d) for d in target)
    size = math.prod(shape)
    if target.count(-1) > 1 or any(d < -1 for d in target):
        raise ShapeError(f"bad reshape target {list(target)}")
    if -1 in target:
        known = math.prod(d for d in target if d != -1)
        if known == 0 or size % known:
            raise ShapeError(f"cannot reshape {list(shape)} to {list(target)}")
        target = tuple(size // known if d == -1 else d for d in target)
    if math.prod(target) != size:
        raise ShapeError(f"cannot reshape {list(shape)} ({size} elements) to {list(target)}")
    return target


def _flatten_shape(shape: tuple[int, ...], attrs: Attrs) -> tuple[int, ...]:
    axis = int(attrs.get("axis", 1))
    if not -len(shape) <= axis <= len(shape):
        raise ShapeError(f"axis {axis} out of range for rank {len(shape)}")
    if axis < 0:
        axis += len(shape)
    return math.prod(shape[:axis]), math.prod(shape[axis:])


def _squeeze_shape(shape: tuple[int, ...], attrs: Attrs) -> tuple[int, ...]:
    axes = attrs.get("axes")
    if not axes:
        return tuple(d for d in shape if d != 1)
    drop = {norm_axis(int(a), len(shape)) for a in axes}
    if any(shape[a] != 1 for a in drop):
        raise ShapeError(f"cannot squeeze axes {tuple(axes)} of {list(shape)}: not of size 1")
    return tuple(d for i, d in enumerate(shape) if i not in drop)


def _unsqueeze_shape(shape: tuple[int, ...], attrs: Attrs) -> tuple[int, ...]:
    rank = len(shape) + len(attrs["axes"])
    new = {norm_axis(int(a), rank) for a in attrs["axes"]}
    if len(new) != len(attrs["axes"]):
        raise ShapeError(f"unsqueeze axes {tuple(attrs['axes'])} repeat an axis")
    rest = iter(shape)
    return tuple(1 if i in new else next(rest) for i in range(rank))


_RESHAPES = {
    "reshape": lambda shape, attrs: reshape_target(shape, attrs["shape"]),
    "flatten": _flatten_shape,
    "squeeze": _squeeze_shape,
    "unsqueeze": _unsqueeze_shape,
    "identity": lambda shape, attrs: shape,
}


def _relabel(name: str) -> OpDef:
    shape_of = _RESHAPES[name]

    def rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
        if len(ins) != 1:
            raise ShapeError(f"{name} takes one input")
        return (TensorType(shape_of(ins[0].shape, attrs), ins[0].dtype),)

    def kernel(ins: Arrays, outs: Arrays | None, attrs: Attrs) -> tuple[np.ndarray, ...]:
        x = ins[0]
        if not outs:
            return (x.reshape(shape_of(x.shape, attrs)),)
        np.copyto(outs[0], x.reshape(outs[0].shape))
        return (outs[0],)

    return register(OpDef(name, rule, _no_flops, kernel, view=True,
                          doc=f"{name}: the same elements in a new shape (a view when eager)"))


RESHAPE, FLATTEN, SQUEEZE, UNSQUEEZE, IDENTITY = (_relabel(n) for n in _RESHAPES)


# -- data moved ----------------------------------------------------------------------------------

def _perm(attrs: Attrs, rank: int) -> tuple[int, ...]:
    perm = tuple(int(p) for p in attrs.get("perm") or range(rank - 1, -1, -1))
    if sorted(perm) != list(range(rank)):
        raise ShapeError(f"perm {perm} is not a permutation of {rank} axes")
    return perm


def _transpose_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    x = ins[0]
    return (TensorType(tuple(x.shape[p] for p in _perm(attrs, len(x.shape))), x.dtype),)


def _transpose(ins: Arrays, outs: Arrays | None, attrs: Attrs) -> tuple[np.ndarray, ...]:
    view = ins[0].transpose(_perm(attrs, ins[0].ndim))
    out = outs[0] if outs else memory.empty(view.shape, view.dtype)
    np.copyto(out, view)
    return (out,)


def _expand_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    target = TensorType.of(attrs["shape"], ins[0].dtype)
    return (TensorType(broadcast_shape([ins[0], target]), ins[0].dtype),)


def _expand(ins: Arrays, outs: Arrays | None, attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = ins[0]
    shape = np.broadcast_shapes(x.shape, tuple(attrs["shape"]))
    out = outs[0] if outs else memory.empty(shape, x.dtype)
    np.copyto(out, np.broadcast_to(x, shape))
    return (out,)


def _concat_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    if not ins:
        raise ShapeError("concat of nothing")
    rank = len(ins[0].shape)
    axis = norm_axis(int(attrs["axis"]), rank)
    for t in ins[1:]:
        if len(t.shape) != rank or any(a != b for i, (a, b) in enumerate(zip(t.shape, ins[0].shape))
                                       if i != axis):
            raise ShapeError(f"cannot concat {', '.join(map(str, ins))} along axis {axis}")
    shape = list(ins[0].shape)
    shape[axis] = sum(t.shape[axis] for t in ins)
    return (TensorType(tuple(shape), same_dtype(ins)),)


def _concat(ins: Arrays, outs: Arrays | None, attrs: Attrs) -> tuple[np.ndarray, ...]:
    axis = norm_axis(int(attrs["axis"]), ins[0].ndim)
    if not outs:
        shape = list(ins[0].shape)
        shape[axis] = sum(a.shape[axis] for a in ins)
        outs = (memory.empty(tuple(shape), ins[0].dtype),)
    np.concatenate(ins, axis=axis, out=outs[0])
    return (outs[0],)


def _split_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    x = ins[0]
    axis = norm_axis(int(attrs.get("axis", 0)), len(x.shape))
    sizes = tuple(int(s) for s in attrs["sizes"])
    if sum(sizes) != x.shape[axis] or min(sizes, default=-1) < 0:
        raise ShapeError(f"split sizes {sizes} do not add up to dim {axis} of {x}")
    return tuple(TensorType(x.shape[:axis] + (s,) + x.shape[axis + 1:], x.dtype) for s in sizes)


def _split(ins: Arrays, outs: Arrays | None, attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = ins[0]
    axis = norm_axis(int(attrs.get("axis", 0)), x.ndim)
    starts = np.cumsum((0,) + tuple(attrs["sizes"]))
    lead = (slice(None),) * axis
    parts = [x[lead + (slice(a, b),)] for a, b in itertools.pairwise(starts)]
    if not outs:
        outs = [memory.empty(p.shape, p.dtype) for p in parts]
    for o, p in zip(outs, parts):
        np.copyto(o, p)
    return tuple(outs)


TRANSPOSE = register(OpDef("transpose", _transpose_rule, _no_flops, _transpose,
                           doc="permute axes by `perm` (default: reverse them)"))
EXPAND = register(OpDef("expand", _expand_rule, _no_flops, _expand,
                        doc="broadcast x to broadcast(x.shape, shape)"))
CONCAT = register(OpDef("concat", _concat_rule, _no_flops, _concat,
                        doc="join inputs along `axis`"))
SPLIT = register(OpDef("split", _split_rule, _no_flops, _split,
                       doc="cut x along `axis` into parts of `sizes` (one output each)"))
