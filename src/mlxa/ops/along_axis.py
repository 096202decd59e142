"""Ops along one axis, ONNX semantics: cumsum (attrs axis, exclusive, reverse),
gather_elements (x, indices; axis): out[..., i, ...] = x[..., indices[..., i, ...], ...], and
topk (attrs k, axis, largest; sorted, two outputs: values and int64 indices).

gather_elements computes flat element offsets into a scratch int64 array of the indices' shape,
then one np.take from the flat input: no tensor allocation when bound, the same refusal of
out-of-range indices as gather.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mlxa.errors import ShapeError, UserInputError
from mlxa.ir.graph import TensorType
from mlxa.ops import memory
from mlxa.ops.scratch import scratch, scratch_nbytes
from mlxa.ops.shape import norm_axis
from mlxa.ops.table import Attrs, OpDef, register

Arrays = Sequence[np.ndarray]


# -- cumsum ---------------------------------------------------------------------------------------

def _cumsum_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    x = ins[0]
    if x.dtype.kind not in "iuf":
        raise ShapeError(f"cumsum takes a numeric tensor, got {x}")
    norm_axis(int(attrs.get("axis", 0)), max(len(x.shape), 1))
    return (TensorType(x.shape, x.dtype),)


def _cumsum(ins: Arrays, outs: Arrays | None, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Inclusive running sums (reversed: from the end); exclusive ones subtract x after."""
    x = ins[0]
    out = outs[0] if outs else memory.empty(x.shape, x.dtype)
    if x.ndim == 0:
        out[...] = 0 if attrs.get("exclusive", 0) else x
        return (out,)
    axis = norm_axis(int(attrs.get("axis", 0)), x.ndim)
    flip = (slice(None),) * axis + (slice(None, None, -1),)
    src, dst = (x[flip], out[flip]) if attrs.get("reverse", 0) else (x, out)
    np.cumsum(src, axis=axis, dtype=x.dtype, out=dst)
    if attrs.get("exclusive", 0):
        dst -= src
    return (out,)


# -- gather_elements ------------------------------------------------------------------------------

def _ge_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    x, idx = ins
    if idx.dtype.kind not in "iu":
        raise ShapeError(f"gather_elements indices must be integers, got {idx}")
    if len(idx.shape) != len(x.shape) or not x.shape:
        raise ShapeError(f"gather_elements: indices {idx} and data {x} differ in rank")
    axis = norm_axis(int(attrs.get("axis", 0)), len(x.shape))
    if any(i > d for k, (i, d) in enumerate(zip(idx.shape, x.shape)) if k != axis):
        raise ShapeError(f"gather_elements: indices {idx} exceed data {x} off axis {axis}")
    return (TensorType(idx.shape, x.dtype),)


def _ge_workspace(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    return scratch_nbytes([ins[1].shape], np.int64)


def _gather_elements(ins: Arrays, outs: Arrays | None, attrs: Attrs,
                     workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    x, idx = ins
    axis = norm_axis(int(attrs.get("axis", 0)), x.ndim)
    n = x.shape[axis]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = idx.min() if idx.min() < -n else idx.max()
        raise UserInputError(f"gather_elements: index {bad} is out of range for axis {axis} "
                             f"of size {n}")
    (flat,) = scratch([idx.shape], np.int64, workspace)
    strides = [math.prod(x.shape[d + 1:]) for d in range(x.ndim)]
    np.copyto(flat, idx, casting="unsafe")
    np.remainder(flat, max(n, 1), out=flat)  # negative indices count from the end
    flat *= strides[axis]
    for d in range(x.ndim):
        if d != axis and idx.shape[d] > 1:
            shape = [1] * x.ndim
            shape[d] = idx.shape[d]
            flat += (np.arange(idx.shape[d], dtype=np.int64) * strides[d]).reshape(shape)
    out = outs[0] if outs else memory.empty(idx.shape, x.dtype)
    if out.size:
        np.take(x.reshape(-1), flat, out=out)
    return (out,)


CUMSUM = register(OpDef("cumsum", _cumsum_rule, lambda i, o, a: o[0].size, _cumsum,
                        doc="running sums along `axis`; `exclusive` omits the element itself, "
                            "`reverse` sums from the end"))
GATHER_ELEMENTS = register(OpDef(
    "gather_elements", _ge_rule, lambda i, o, a: 0, _gather_elements, workspace=_ge_workspace,
    doc="out[.., i, ..] = x[.., indices[.., i, ..], ..] along `axis` (int indices)"))


# -- topk -----------------------------------------------------------------------------------------

def _topk_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    x = ins[0]
    axis = norm_axis(int(attrs.get("axis", -1)), len(x.shape))
    k = int(attrs["k"])
    if not 0 <= k <= x.shape[axis]:
        raise ShapeError(f"topk k={k} is out of range for axis {axis} of {x}")
    shape = x.shape[:axis] + (k,) + x.shape[axis + 1:]
    return (TensorType(shape, x.dtype), TensorType(shape, np.dtype(np.int64)))


def _topk_workspace(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    return scratch_nbytes([ins[0].shape], np.int64)


def _topk(ins: Arrays, outs: Arrays | None, attrs: Attrs,
          workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """The k largest (or smallest) along `axis`, sorted, ties to the lower index: a stable
    argsort of -x (or x)."""
    x = ins[0]
    axis = norm_axis(int(attrs.get("axis", -1)), x.ndim)
    k = int(attrs["k"])
    (order,) = scratch([x.shape], np.int64, workspace)
    key = np.negative(x) if int(attrs.get("largest", 1)) else x
    order[...] = np.argsort(key, axis=axis, kind="stable")
    shape = x.shape[:axis] + (k,) + x.shape[axis + 1:]
    values, indices = outs if outs else (memory.empty(shape, x.dtype),
                                         memory.empty(shape, np.int64))
    indices[...] = order[(slice(None),) * axis + (slice(0, k),)]
    values[...] = np.take_along_axis(x, indices, axis=axis)
    return (values, indices)


TOPK = register(OpDef("topk", _topk_rule, lambda i, o, a: i[0].size * max(
    1, int(math.log2(max(i[0].shape[norm_axis(int(a.get("axis", -1)), len(i[0].shape))], 2)))),
    _topk, workspace=_topk_workspace,
    doc="the k largest (largest=0: smallest) along `axis`, sorted, and their int64 indices"))
