"""Reductions: reduce_sum, reduce_mean, reduce_max, reduce_min (attrs axes, keepdims) and argmax.

`axes` is a tuple of axes (negative counts from the end); None or () reduces every axis, as ONNX
does when no axes are given. keepdims defaults to true, as in ONNX. numpy reduces straight into
the output, so no kernel allocates when given one. Bound (the compiled executor), a float
reduction is its ufunc's reduce with the axes worked out once, and a mean that reduce then one
divide: np.mean and np.sum are Python around the same reduce (MobileViT's mean over a 1x160x2x2
map took 10 us through np.mean, 4 through the reduce).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mlxa.errors import ShapeError
from mlxa.ir.graph import TensorType
from mlxa.ops import memory
from mlxa.ops.bound import Step, sequence
from mlxa.ops.table import Attrs, OpDef, register

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


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


def _reduction_op(name: str, fn: Callable[..., Any], ufunc: np.ufunc, doc: str,
                  mean: bool = False) -> OpDef:
    """Registers reduction `name`: its kernel `fn` (np.sum, ...), and bound, for a float input
    that is not empty, `ufunc`.reduce into the output (then divided by the count for a mean);
    else the kernel, as unbound."""
    kernel = _reduction(fn)

    def bind(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
             workspace: np.ndarray | None) -> Step:
        x, out = ins[0], outs[0]
        if x.dtype not in FLOATS or out.dtype != x.dtype or x.size == 0:
            return functools.partial(kernel, ins, outs, attrs)
        step = functools.partial(ufunc.reduce, x, axis=reduce_axes(attrs, x.ndim),
                                 keepdims=bool(attrs.get("keepdims", 1)), out=out)
        if not mean:
            return step
        # as np.mean: an exact integer count (a float32 one rounds past 2**24), unsafe cast
        count = np.intp(x.size // max(out.size, 1))
        return sequence([step, functools.partial(np.true_divide, out, count, out=out,
                                                 casting="unsafe")])
    return register(OpDef(name, _rule, _flops, kernel, doc=doc, bind=bind))


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


REDUCE_SUM = _reduction_op("reduce_sum", np.sum, np.add, "sum over `axes` (all when empty)")
REDUCE_MEAN = _reduction_op("reduce_mean", np.mean, np.add, "mean over `axes` (all when empty)",
                            mean=True)
REDUCE_MAX = _reduction_op("reduce_max", np.max, np.maximum, "max over `axes` (all when empty)")
REDUCE_MIN = _reduction_op("reduce_min", np.min, np.minimum, "min over `axes` (all when empty)")
ARGMAX = register(OpDef("argmax", _argmax_rule, _flops, _argmax,
                        doc="index of the first maximum along `axis` (int64)"))
