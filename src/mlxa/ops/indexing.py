"""Indexing ops, ONNX semantics: slice (starts, ends, axes, steps), gather (x, indices; axis) and
pad (pads in ONNX order: every axis's begin, then every axis's end; mode constant, reflect, edge
or wrap). Negative pads crop. All copy into their output; pad fills the borders from the output's
own interior, one axis at a time, so it needs no scratch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlxa.errors import ShapeError, UserInputError
from mlxa.ir.graph import TensorType
from mlxa.ops import memory
from mlxa.ops.shape import norm_axis
from mlxa.ops.table import Attrs, OpDef, register

Arrays = Sequence[np.ndarray]
PAD_MODES = ("constant", "reflect", "edge", "wrap")


def _no_flops(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    return 0


# -- slice ---------------------------------------------------------------------------------------

def _clamped(start: int, end: int, step: int, dim: int) -> slice:
    """ONNX Slice's clamping for one axis, as a Python slice of the same elements."""
    if step == 0:
        raise ShapeError("slice step 0")
    start, end = start + dim if start < 0 else start, end + dim if end < 0 else end
    if step > 0:
        return slice(min(max(start, 0), dim), min(max(end, 0), dim), step)
    start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return slice(start, None if end < 0 else end, step)


def slices(shape: tuple[int, ...], attrs: Attrs) -> tuple[slice, ...]:
    starts, ends = attrs["starts"], attrs["ends"]
    axes = attrs.get("axes") or range(len(starts))
    steps = attrs.get("steps") or (1,) * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ShapeError("slice starts, ends, axes and steps differ in length")
    out = [slice(None)] * len(shape)
    for s, e, a, st in zip(starts, ends, axes, steps):
        a = norm_axis(int(a), len(shape))
        out[a] = _clamped(int(s), int(e), int(st), shape[a])
    return tuple(out)


def _slice_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    x = ins[0]
    shape = tuple(len(range(*s.indices(d))) for s, d in zip(slices(x.shape, attrs), x.shape))
    return (TensorType(shape, x.dtype),)


def _slice(ins: Arrays, outs: Arrays | None, attrs: Attrs) -> tuple[np.ndarray, ...]:
    part = ins[0][slices(ins[0].shape, attrs)]
    out = outs[0] if outs else memory.empty(part.shape, part.dtype)
    np.copyto(out, part)
    return (out,)


# -- gather --------------------------------------------------------------------------------------

def _gather_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    x, idx = ins
    if idx.dtype.kind not in "iu":
        raise ShapeError(f"gather indices must be integers, got {idx}")
    axis = norm_axis(int(attrs.get("axis", 0)), len(x.shape))
    return (TensorType(x.shape[:axis] + idx.shape + x.shape[axis + 1:], x.dtype),)


def _gather(ins: Arrays, outs: Arrays | None, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """np.take in 'wrap' mode: negative indices count from the end, as in ONNX, and no buffer is
    made (its 'raise' mode copies). An index out of [-n, n) is refused first (ONNX leaves it
    undefined; wrapping would give an answer), at the cost of a min and a max."""
    x, idx = ins
    axis = norm_axis(int(attrs.get("axis", 0)), x.ndim)
    n = x.shape[axis]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = idx.min() if idx.min() < -n else idx.max()
        raise UserInputError(f"gather: index {bad} is out of range for axis {axis} of size {n}")
    shape = x.shape[:axis] + idx.shape + x.shape[axis + 1:]
    out = outs[0] if outs else memory.empty(shape, x.dtype)
    np.take(x, idx, axis=axis, out=out, mode="wrap")
    return (out,)


# -- pad -----------------------------------------------------------------------------------------

def _pads(attrs: Attrs, rank: int) -> list[tuple[int, int]]:
    pads = [int(p) for p in attrs["pads"]]
    if len(pads) != 2 * rank:
        raise ShapeError(f"pads {tuple(pads)} should have {2 * rank} values (rank {rank})")
    mode = attrs.get("mode", "constant")
    if mode not in PAD_MODES:
        raise ShapeError(f"pad mode {mode!r}; known: {', '.join(PAD_MODES)}")
    return list(zip(pads[:rank], pads[rank:]))


def _pad_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    x = ins[0]
    shape = tuple(d + b + e for d, (b, e) in zip(x.shape, _pads(attrs, len(x.shape))))
    if min(shape, default=0) < 0:
        raise ShapeError(f"pads {tuple(attrs['pads'])} crop {x} below zero")
    for d, (b, e) in zip(x.shape, _pads(attrs, len(x.shape))):
        kept = d + min(b, 0) + min(e, 0)
        if attrs.get("mode", "constant") != "constant" and max(b, e) > 0 and kept == 0:
            raise ShapeError(f"cannot {attrs['mode']}-pad an empty axis of {x}")
        if attrs.get("mode") == "reflect" and max(b, e) > kept - 1 and max(b, e) > 0:
            raise ShapeError(f"reflect pads {tuple(attrs['pads'])} exceed {x}'s dims minus one")
    return (TensorType(shape, x.dtype),)


def _pad(ins: Arrays, outs: Arrays | None, attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = ins[0]
    pads = _pads(attrs, x.ndim)
    shape = tuple(d + b + e for d, (b, e) in zip(x.shape, pads))
    out = outs[0] if outs else memory.empty(shape, x.dtype)
    crop = tuple(slice(max(-b, 0), d - max(-e, 0)) for d, (b, e) in zip(x.shape, pads))
    inner = tuple(slice(max(b, 0), max(b, 0) + len(range(*c.indices(d))))
                  for d, (b, e), c in zip(x.shape, pads, crop))
    mode = attrs.get("mode", "constant")
    if mode == "constant":
        out.fill(attrs.get("value", 0))
    out[inner] = x[crop]
    if mode != "constant":
        for axis, ((b, e), s) in enumerate(zip(pads, inner)):
            _fill_border(out, axis, max(b, 0), max(e, 0), s.stop - s.start, mode)
    return (out,)


def _fill_border(out: np.ndarray, axis: int, begin: int, end: int, n: int, mode: str) -> None:
    """Fill out's `begin` leading and `end` trailing planes along `axis` from the n planes
    between them."""
    lead = (slice(None),) * axis
    for i in range(begin):  # plane begin-1-i mirrors into the interior
        src = {"edge": begin, "reflect": begin + i + 1, "wrap": begin + n - 1 - i % n}[mode]
        out[lead + (begin - 1 - i,)] = out[lead + (src,)]
    last = begin + n - 1
    for i in range(end):
        src = {"edge": last, "reflect": last - i - 1, "wrap": begin + i % n}[mode]
        out[lead + (last + 1 + i,)] = out[lead + (src,)]


SLICE = register(OpDef("slice", _slice_rule, _no_flops, _slice,
                       doc="x[starts:ends:steps] along `axes`, ONNX clamping"))
GATHER = register(OpDef("gather", _gather_rule, _no_flops, _gather,
                        doc="take `indices` (int) of x along `axis`"))
PAD = register(OpDef("pad", _pad_rule, _no_flops, _pad,
                     doc="pad by `pads` (ONNX order, negative crops); mode constant (value), "
                         "reflect, edge or wrap"))
