"""Reductions: reduce_sum, reduce_mean, reduce_max, reduce_min (attrs axes, keepdims) and argmax.

`axes` is a tuple of axes (negative counts from the end); None or () reduces every axis, as ONNX
does when no axes are given. keepdims defaults to true, as in ONNX. numpy reduces straight into
the output, so no kernel allocates when given one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mlxa.errors import ShapeError
from mlxa.ir.graph import TensorType
from mlxa.ops import memory
from mlxa.ops.table import Attrs, OpDef, register


def reduce_axes(attrs: Attrs, rank: int) -> tuple[int, ...]:
    axes = attrs.get("axes")
    if not axes:
        return tuple(range(rank))
    out = []
    for a in axes:
        if not -rank <= int(a) < rank:
            raise ShapeError(f"axis {a} out of range for rank {rank}")
        out.append(int(a) % rank)
    if len(set(out)) != len(out):
        raise ShapeError(f"axes {tuple(axes)} repeat an axis")
    return tuple(sorted(out))


def reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> tuple[int, ...]:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    if len(ins) != 1:
        raise ShapeError("a reduction takes one input")
    x = ins[0]
    axes = reduce_axes(attrs, len(x.shape))
    return (TensorType(reduced_shape(x.shape, axes, bool(attrs.get("keepdims", 1))), x.dtype),)


def _flops(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    return ins[0].size


def _reduction(fn: Callable[..., Any]) -> Callable[..., tuple[np.ndarray, ...]]:
    def kernel(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray] | None,
               attrs: Attrs) -> tuple[np.ndarray, ...]:
        x = ins[0]
        axes = reduce_axes(attrs, x.ndim)
        keep = bool(attrs.get("keepdims", 1))
        out = outs[0] if outs else memory.empty(reduced_shape(x.shape, axes, keep), x.dtype)
        if x.size == 0 and fn in (np.max, np.min):
            raise ValueError(f"reduce of an empty tensor {list(x.shape)}")
        fn(x, axis=axes, keepdims=keep, out=out)
        return (out,)
    return kernel


def _argmax_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    x = ins[0]
    axis = int(attrs.get("axis", 0))
    if not -len(x.shape) <= axis < len(x.shape):
        raise ShapeError(f"axis {axis} out of range for {x}")
    shape = reduced_shape(x.shape, (axis % len(x.shape),), bool(attrs.get("keepdims", 1)))
    return (TensorType(shape, np.dtype(np.int64)),)


def _argmax(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray] | None,
            attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = ins[0]
    axis = int(attrs.get("axis", 0)) % x.ndim
    keep = bool(attrs.get("keepdims", 1))
    out = outs[0] if outs else memory.empty(reduced_shape(x.shape, (axis,), keep), np.int64)
    np.argmax(x, axis=axis, keepdims=keep, out=out)
    return (out,)


REDUCE_SUM = register(OpDef("reduce_sum", _rule, _flops, _reduction(np.sum),
                            doc="sum over `axes` (all when empty)"))
REDUCE_MEAN = register(OpDef("reduce_mean", _rule, _flops, _reduction(np.mean),
                             doc="mean over `axes` (all when empty)"))
REDUCE_MAX = register(OpDef("reduce_max", _rule, _flops, _reduction(np.max),
                            doc="max over `axes` (all when empty)"))
REDUCE_MIN = register(OpDef("reduce_min", _rule, _flops, _reduction(np.min),
                            doc="min over `axes` (all when empty)"))
ARGMAX = register(OpDef("argmax", _argmax_rule, _flops, _argmax,
                        doc="index of the first maximum along `axis` (int64)"))
