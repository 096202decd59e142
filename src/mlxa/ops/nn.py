"""Normalisations and softmax: batch_norm (inference form), softmax, log_softmax, layer_norm.

Each reads its input once per pass and writes the output in place-safe order (the output may be
the input's buffer). Per-row or per-channel statistics live in scratch of the reduced shape,
never a full-size temporary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mlxa.errors import ShapeError
from mlxa.ir.graph import TensorType
from mlxa.ops import memory
from mlxa.ops.scratch import scratch, scratch_nbytes
from mlxa.ops.table import Attrs, OpDef, register, same_dtype


def _axis(attrs: Attrs, rank: int, default: int = -1) -> int:
    axis = int(attrs.get("axis", default))
    if not -rank <= axis < rank:
        raise ShapeError(f"axis {axis} out of range for rank {rank}")
    return axis % rank


def _out(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray] | None) -> np.ndarray:
    return outs[0] if outs else memory.empty(ins[0].shape, ins[0].dtype)


# -- batch_norm ---------------------------------------------------------------------------------

def _bn_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    if len(ins) != 5 or len(ins[0].shape) < 2:
        raise ShapeError("batch_norm takes x[N,C,...], scale, bias, mean, var")
    c = ins[0].shape[1]
    for t in ins[1:]:
        if t.shape != (c,):
            raise ShapeError(f"batch_norm statistics must be [{c}], got {t}")
    return (TensorType(ins[0].shape, same_dtype(ins)),)


def _bn_flops(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    return 2 * outs[0].size  # x * s + t once s and t are known (per-channel work is negligible)


def bn_affine(scale: np.ndarray, bias: np.ndarray, mean: np.ndarray, var: np.ndarray,
              epsilon: float, s: np.ndarray, t: np.ndarray) -> None:
    """s = scale / sqrt(var + eps), t = bias - mean s: batch_norm as y = x s + t."""
    np.add(var, epsilon, out=s)
    np.sqrt(s, out=s)
    np.divide(scale, s, out=s)
    np.multiply(mean, s, out=t)
    np.subtract(bias, t, out=t)


def _bn_shapes(x: TensorType | np.ndarray) -> list[tuple[int, ...]]:
    return [(x.shape[1],), (x.shape[1],)]


def _bn_workspace(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    return scratch_nbytes(_bn_shapes(ins[0]), ins[0].dtype)


def _batch_norm(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray] | None, attrs: Attrs,
                workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    x, scale, bias, mean, var = ins
    s, t = scratch(_bn_shapes(x), x.dtype, workspace)
    bn_affine(scale, bias, mean, var, attrs.get("epsilon", 1e-5), s, t)
    per_channel = (-1,) + (1,) * (x.ndim - 2)
    out = _out(ins, outs)
    np.multiply(x, s.reshape(per_channel), out=out)
    out += t.reshape(per_channel)
    return (out,)


# -- softmax, log_softmax -----------------------------------------------------------------------

def _same_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    if len(ins) != 1 or not ins[0].shape:
        raise ShapeError("takes one tensor of rank >= 1")
    _axis(attrs, len(ins[0].shape))
    return (ins[0],)


def _reduced(shape: tuple[int, ...], axis: int) -> tuple[int, ...]:
    return shape[:axis] + (1,) + shape[axis + 1:]


def _softmax_workspace(ins: Sequence[TensorType], outs: Sequence[TensorType],
                       attrs: Attrs) -> int:
    shape = ins[0].shape
    return 2 * scratch_nbytes([_reduced(shape, _axis(attrs, len(shape)))], ins[0].dtype)


def _softmax_flops(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    return 5 * outs[0].size  # max, subtract, exp, sum, divide


def _softmax(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray] | None, attrs: Attrs,
             workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    x = ins[0]
    axis = _axis(attrs, x.ndim)
    (m,) = scratch([_reduced(x.shape, axis)], x.dtype, workspace)
    out = _out(ins, outs)
    np.max(x, axis=axis, keepdims=True, out=m)
    np.subtract(x, m, out=out)
    np.exp(out, out=out)
    np.sum(out, axis=axis, keepdims=True, out=m)
    out /= m
    return (out,)


def _log_softmax(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray] | None, attrs: Attrs,
                 workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """x - max - log(sum(exp(x - max))): reads x twice, so the output may not be x's buffer."""
    x = ins[0]
    axis = _axis(attrs, x.ndim)
    m, s = scratch([_reduced(x.shape, axis)] * 2, x.dtype, workspace)
    out = _out(ins, outs)
    np.max(x, axis=axis, keepdims=True, out=m)
    np.subtract(x, m, out=out)
    np.exp(out, out=out)
    np.sum(out, axis=axis, keepdims=True, out=s)
    np.log(s, out=s)
    s += m
    np.subtract(x, s, out=out)
    return (out,)


# -- layer_norm ---------------------------------------------------------------------------------

def _ln_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    if len(ins) not in (2, 3) or not ins[0].shape:
        raise ShapeError("layer_norm takes x, scale and an optional bias")
    x = ins[0].shape
    axis = _axis(attrs, len(x))
    for t in ins[1:]:
        try:
            fits = np.broadcast_shapes(t.shape, x[axis:]) == x[axis:]
        except ValueError:
            fits = False
        if not fits:
            raise ShapeError(f"{t} does not broadcast to the normalised dims {list(x[axis:])}")
    return (TensorType(x, same_dtype(ins)),)


def _ln_flops(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    return 7 * outs[0].size  # mean, subtract, square+sum, scale by rstd, *scale, +bias


def _ln_rows(shape: tuple[int, ...], attrs: Attrs) -> tuple[int, int]:
    axis = _axis(attrs, len(shape))
    return math.prod(shape[:axis]), math.prod(shape[axis:])


def _ln_workspace(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    rows, _ = _ln_rows(ins[0].shape, attrs)
    return scratch_nbytes([(rows, 1), (rows, 1)], ins[0].dtype)


def _layer_norm(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray] | None, attrs: Attrs,
                workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """(x - mean) / sqrt(var + eps) * scale + bias over the dims from `axis` on; var is the
    biased variance, summed with einsum so no squared copy of x is made."""
    x = ins[0]
    rows, cols = _ln_rows(x.shape, attrs)
    mean, var = scratch([(rows, 1), (rows, 1)], x.dtype, workspace)
    out = _out(ins, outs)
    x2, o2 = x.reshape(rows, cols), out.reshape(rows, cols)
    np.mean(x2, axis=1, keepdims=True, out=mean)
    np.subtract(x2, mean, out=o2)
    np.einsum("ij,ij->i", o2, o2, out=var[:, 0])
    var *= 1.0 / cols
    var += attrs.get("epsilon", 1e-5)
    np.sqrt(var, out=var)
    o2 /= var
    out *= ins[1]
    if len(ins) == 3:
        out += ins[2]
    return (out,)


BATCH_NORM = register(OpDef("batch_norm", _bn_rule, _bn_flops, _batch_norm, inplace=True,
                            inplace_inputs=lambda attrs, n: (0,), workspace=_bn_workspace,
                            doc="(x - mean) / sqrt(var + eps) * scale + bias per channel"))
SOFTMAX = register(OpDef("softmax", _same_rule, _softmax_flops, _softmax, inplace=True,
                         inplace_inputs=lambda attrs, n: (0,), workspace=_softmax_workspace,
                         doc="exp(x - max) / sum(exp(x - max)) along `axis`"))
LOG_SOFTMAX = register(OpDef("log_softmax", _same_rule, _softmax_flops, _log_softmax,
                             workspace=_softmax_workspace, doc="log(softmax(x)) along `axis`"))
LAYER_NORM = register(OpDef("layer_norm", _ln_rule, _ln_flops, _layer_norm, inplace=True,
                            inplace_inputs=lambda attrs, n: (0,), workspace=_ln_workspace,
                            doc="normalise the dims from `axis` on, then scale and bias"))
