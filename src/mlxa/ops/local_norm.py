"""Normalisations over part of a tensor, ONNX semantics: instance_norm (each (n, c) plane over its
spatial dims, then scale and bias per channel; group norm is an instance norm of the grouped
view) and lrn (local response normalisation across `size` neighbouring channels, AlexNet).

Both write the output in place-safe order (the output may be the input's buffer) and keep their
statistics in scratch: per-plane for instance_norm, one channel-summed square plane for lrn.
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

Arrays = Sequence[np.ndarray]


def _out(ins: Arrays, outs: Arrays | None) -> np.ndarray:
    return outs[0] if outs else memory.empty(ins[0].shape, ins[0].dtype)


# -- instance_norm --------------------------------------------------------------------------------

def _in_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    if len(ins) != 3 or len(ins[0].shape) < 3:
        raise ShapeError("instance_norm takes x (N, C, spatial...), scale (C) and bias (C)")
    c = ins[0].shape[1]
    if ins[1].shape != (c,) or ins[2].shape != (c,):
        raise ShapeError(f"scale {ins[1]} and bias {ins[2]} should be [{c}] for {ins[0]}")
    return (TensorType(ins[0].shape, same_dtype(ins)),)


def _planes(shape: tuple[int, ...]) -> tuple[int, int]:
    return shape[0] * shape[1], math.prod(shape[2:])


def _in_workspace(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    rows, _ = _planes(ins[0].shape)
    return scratch_nbytes([(rows, 1), (rows, 1)], ins[0].dtype)


def _instance_norm(ins: Arrays, outs: Arrays | None, attrs: Attrs,
                   workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """(x - mean) / sqrt(var + eps) per (n, c) plane, biased variance; then * scale + bias."""
    x, scale, bias = ins
    rows, cols = _planes(x.shape)
    mean, var = scratch([(rows, 1), (rows, 1)], x.dtype, workspace)
    out = _out(ins, outs)
    x2, o2 = x.reshape(rows, cols), out.reshape(rows, cols)
    np.mean(x2, axis=1, keepdims=True, out=mean)
    np.subtract(x2, mean, out=o2)
    np.einsum("ij,ij->i", o2, o2, out=var[:, 0])
    var *= 1.0 / max(cols, 1)
    var += attrs.get("epsilon", 1e-5)
    np.sqrt(var, out=var)
    o2 /= var
    per_channel = (1, -1) + (1,) * (x.ndim - 2)
    out *= scale.reshape(per_channel)
    out += bias.reshape(per_channel)
    return (out,)


# -- lrn ------------------------------------------------------------------------------------------

def _lrn_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    if len(ins[0].shape) < 3:
        raise ShapeError(f"lrn takes x (N, C, spatial...), got {ins[0]}")
    if int(attrs.get("size", 0)) < 1:
        raise ShapeError(f"lrn size {attrs.get('size')} must be at least 1")
    return (TensorType(ins[0].shape, ins[0].dtype),)


def _lrn_workspace(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    return scratch_nbytes([ins[0].shape, ins[0].shape], ins[0].dtype)


def _lrn(ins: Arrays, outs: Arrays | None, attrs: Attrs,
         workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """x / (bias + alpha / size * sum of x^2 over channels c - floor((size-1)/2) to
    c + ceil((size-1)/2)) ** beta: a running sum over the channel axis of the squares."""
    x = ins[0]
    size = int(attrs["size"])
    alpha, beta = float(attrs.get("alpha", 1e-4)), float(attrs.get("beta", 0.75))
    sq, acc = scratch([x.shape, x.shape], x.dtype, workspace)
    np.multiply(x, x, out=sq)
    acc.fill(0)
    c = x.shape[1]
    lo, hi = (size - 1) // 2, -(-(size - 1) // 2)
    for shift in range(-lo, hi + 1):  # acc[:, i] += sq[:, i + shift] where in range
        begin, end = max(0, -shift), min(c, c - shift)
        if begin < end:
            acc[:, begin:end] += sq[:, begin + shift:end + shift]
    acc *= alpha / size
    acc += float(attrs.get("bias", 1.0))
    np.power(acc, beta, out=acc)
    out = _out(ins, outs)
    np.divide(x, acc, out=out)
    return (out,)


INSTANCE_NORM = register(OpDef(
    "instance_norm", _in_rule, lambda i, o, a: 7 * o[0].size, _instance_norm, inplace=True,
    inplace_inputs=lambda attrs, n: (0,), workspace=_in_workspace,
    doc="normalise each (n, c) plane over its spatial dims, then scale and bias per channel"))
LRN = register(OpDef(
    "lrn", _lrn_rule, lambda i, o, a: (int(a["size"]) + 5) * o[0].size, _lrn, inplace=True,
    inplace_inputs=lambda attrs, n: (0,), workspace=_lrn_workspace,
    doc="x / (bias + alpha/size * sum of x^2 over `size` neighbouring channels) ** beta"))
