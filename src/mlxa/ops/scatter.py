"""Scatter and n-dimensional gather, ONNX semantics (batch_dims 0):

- gather_nd(x, indices[..., k]): out[i...] = x[indices[i..., 0], ..., indices[i..., k-1], ...];
- scatter_nd(x, indices[..., k], updates): a copy of x with x[indices[i...]] = updates[i...]
  (reduction none, add, mul, max or min);
- scatter_elements(x, indices, updates; axis): a copy of x with
  out[.., indices[.., j, ..], ..] = updates[.., j, ..] along `axis` (same reductions).

Negative indices count from the end; an index out of range is refused (as gather does). With
reduction none and repeated indices the last update wins, as numpy's assignment does (ONNX leaves
it undefined).
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
REDUCTIONS = {"none": None, "add": np.add, "mul": np.multiply, "max": np.maximum,
              "min": np.minimum}


def _checked(idx: np.ndarray, dims: Sequence[int], what: str) -> np.ndarray:
    """idx with negative entries wrapped; refused when out of [-dim, dim)."""
    dims_arr = np.asarray(dims, np.int64)
    if idx.size and (np.any(idx < -dims_arr) or np.any(idx >= dims_arr)):
        raise UserInputError(f"{what}: an index is out of range for dims {list(dims)}")
    return np.where(idx < 0, idx + dims_arr, idx)


def _nd_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    x, idx = ins[0], ins[1]
    if idx.dtype.kind not in "iu" or not idx.shape or idx.shape[-1] > len(x.shape):
        raise ShapeError(f"indices {idx} do not index {x}")
    return (TensorType(idx.shape[:-1] + x.shape[idx.shape[-1]:], x.dtype),)


def _gather_nd(ins: Arrays, outs: Arrays | None, attrs: Attrs) -> tuple[np.ndarray, ...]:
    x, idx = ins
    k = idx.shape[-1]
    where = _checked(idx.astype(np.int64), x.shape[:k], "gather_nd")
    part = x[tuple(np.moveaxis(where, -1, 0))]
    out = outs[0] if outs else memory.empty(part.shape, x.dtype)
    np.copyto(out, part)
    return (out,)


def _scatter_nd_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    x, idx, updates = ins
    (want,) = _nd_rule(ins[:2], attrs)
    if updates.shape != want.shape or updates.dtype != x.dtype:
        raise ShapeError(f"updates {updates} should be {want} for indices {idx} into {x}")
    _reduction(attrs)
    return (TensorType(x.shape, x.dtype),)


def _reduction(attrs: Attrs) -> np.ufunc | None:
    name = attrs.get("reduction", "none")
    if name not in REDUCTIONS:
        raise ShapeError(f"reduction {name!r}; known: {', '.join(REDUCTIONS)}")
    return REDUCTIONS[name]


def _scatter_nd(ins: Arrays, outs: Arrays | None, attrs: Attrs) -> tuple[np.ndarray, ...]:
    x, idx, updates = ins
    k = idx.shape[-1]
    where = tuple(np.moveaxis(_checked(idx.astype(np.int64), x.shape[:k], "scatter_nd"), -1, 0))
    out = outs[0] if outs else memory.empty(x.shape, x.dtype)
    np.copyto(out, x)
    ufunc = _reduction(attrs)
    if ufunc is None:
        out[where] = updates
    else:
        ufunc.at(out, where, updates)
    return (out,)


def _se_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    x, idx, updates = ins
    norm_axis(int(attrs.get("axis", 0)), len(x.shape))
    if idx.dtype.kind not in "iu" or idx.shape != updates.shape or len(idx.shape) != len(
            x.shape) or updates.dtype != x.dtype:
        raise ShapeError(f"indices {idx} and updates {updates} do not fit {x}")
    _reduction(attrs)
    return (TensorType(x.shape, x.dtype),)


def _scatter_elements(ins: Arrays, outs: Arrays | None, attrs: Attrs
                      ) -> tuple[np.ndarray, ...]:
    x, idx, updates = ins
    axis = norm_axis(int(attrs.get("axis", 0)), x.ndim)
    along = _checked(idx.astype(np.int64), [x.shape[axis]], "scatter_elements")
    where: list[np.ndarray] = list(np.indices(idx.shape, sparse=True))
    where[axis] = along
    out = outs[0] if outs else memory.empty(x.shape, x.dtype)
    np.copyto(out, x)
    ufunc = _reduction(attrs)
    if ufunc is None:
        out[tuple(where)] = updates
    else:
        ufunc.at(out, tuple(where), updates)
    return (out,)


GATHER_ND = register(OpDef("gather_nd", _nd_rule, lambda i, o, a: 0, _gather_nd,
                           doc="x[indices[..., 0], ..., indices[..., k-1]] (ONNX GatherND)"))
SCATTER_ND = register(OpDef("scatter_nd", _scatter_nd_rule, lambda i, o, a: i[2].size,
                            _scatter_nd,
                            doc="a copy of x with updates written (or reduced) at the "
                                "index tuples of indices[..., k]"))
SCATTER_ELEMENTS = register(OpDef(
    "scatter_elements", _se_rule, lambda i, o, a: i[2].size, _scatter_elements,
    doc="a copy of x with updates written (or reduced) at indices along `axis`"))
