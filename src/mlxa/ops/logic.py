"""Ops whose output dtype differs from their inputs': cast (attr `to`, a numpy dtype name),
comparisons (equal, less, greater, less_equal, greater_equal -> bool), not/and/or on bools,
where(cond, a, b) and isnan. Transformer exports use them for attention masks. They broadcast
like the arithmetic ops but are not fusable: fusion chains values of one type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mlxa.errors import ShapeError
from mlxa.ir.graph import TensorType
from mlxa.ops import memory
from mlxa.ops.table import Attrs, OpDef, broadcast_shape, register, same_dtype

Arrays = Sequence[np.ndarray]
BOOL = np.dtype(bool)


def _size_flops(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    return outs[0].size


def _cast_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    return (TensorType(ins[0].shape, np.dtype(attrs["to"])),)


def _cast(ins: Arrays, outs: Arrays | None, attrs: Attrs) -> tuple[np.ndarray, ...]:
    out = outs[0] if outs else memory.empty(ins[0].shape, np.dtype(attrs["to"]))
    np.copyto(out, ins[0], casting="unsafe")
    return (out,)


def _compare_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    same_dtype(ins)
    return (TensorType(broadcast_shape(ins), BOOL),)


def _logical_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    if any(t.dtype != BOOL for t in ins):
        raise ShapeError("logical ops take bool tensors: " + ", ".join(map(str, ins)))
    return (TensorType(broadcast_shape(ins), BOOL),)


def _ufunc_kernel(ufunc: np.ufunc) -> Callable[..., tuple[np.ndarray, ...]]:
    def kernel(ins: Arrays, outs: Arrays | None, attrs: Attrs) -> tuple[np.ndarray, ...]:
        shape = np.broadcast_shapes(*(a.shape for a in ins))
        out = outs[0] if outs else memory.empty(shape, BOOL)
        ufunc(*ins, out=out)
        return (out,)
    return kernel


def _where_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    cond, a, b = ins
    if cond.dtype != BOOL:
        raise ShapeError(f"where's condition must be bool, got {cond}")
    return (TensorType(broadcast_shape(ins), same_dtype([a, b])),)


def _where(ins: Arrays, outs: Arrays | None, attrs: Attrs) -> tuple[np.ndarray, ...]:
    cond, a, b = ins
    out = outs[0] if outs else memory.empty(np.broadcast_shapes(*(x.shape for x in ins)),
                                            a.dtype)
    np.copyto(out, b)
    np.copyto(out, a, where=cond)
    return (out,)


CAST = register(OpDef("cast", _cast_rule, lambda i, o, a: 0, _cast,
                      doc="convert to dtype `to` (numpy's unsafe casting: floats truncate)"))
_COMPARISONS = {"equal": np.equal, "less": np.less, "greater": np.greater,
                "less_equal": np.less_equal, "greater_equal": np.greater_equal}
for _name, _ufunc in _COMPARISONS.items():
    register(OpDef(_name, _compare_rule, _size_flops, _ufunc_kernel(_ufunc),
                   doc=f"{_name}(a, b) -> bool, broadcasting"))
for _name, _logical in {"not": np.logical_not, "and": np.logical_and,
                        "or": np.logical_or}.items():
    register(OpDef(_name, _logical_rule, _size_flops, _ufunc_kernel(_logical),
                   doc=f"logical {_name} of bool tensors, broadcasting"))
WHERE = register(OpDef("where", _where_rule, _size_flops, _where,
                       doc="cond ? a : b, broadcasting"))


def _isnan_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    if ins[0].dtype.kind != "f":
        raise ShapeError(f"isnan takes a floating tensor, got {ins[0]}")
    return (TensorType(ins[0].shape, BOOL),)


ISNAN = register(OpDef("isnan", _isnan_rule, _size_flops, _ufunc_kernel(np.isnan),
                       doc="x != x (NaN) -> bool"))
