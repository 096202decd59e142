"""Quantized ops, as ONNX defines them: quantize_linear and dequantize_linear (the QDQ form),
qlinear_conv and qlinear_matmul (the integer form).

  quantize_linear(x, scale, zero_point)   q = saturate(round_half_even(x / scale) + zero_point)
  dequantize_linear(q, scale, zero_point) x = (q - zero_point) * scale
  qlinear_conv(x, sx, zx, w, sw, zw, sy, zy[, bias])   y = requantize(sum (x-zx)(w-zw) + bias)
  qlinear_matmul(a, sa, za, b, sb, zb, sy, zy[, bias])  the same for a @ b, b 2-D [K, N]

Scales and zero points are scalars (per tensor) or 1-D along `axis` (per channel: the output
channel of a conv weight, the column of a matmul's b). The 8-bit type is the zero point's
(int8 or uint8); dequantize_linear also reads int32 (a bias, zero point 0).

The integer products accumulate exactly: (x - zx) and (w - zw) are integers of at most 9 bits,
a dot product of K terms stays below 2^17 * K, so float64 holds every partial sum exactly up to
K = 2^36 and numpy's float64 BLAS computes the int32 accumulator bit for bit (numpy has no
integer GEMM; an int64 matmul would be a plain loop). Requantization is ops/requantize.py:
`rounding` "fixed_point" (gemmlowp, TFLite; the default) or "float" (ONNX Runtime's CPU
kernels). `act_min`/`act_max` clamp the 8-bit result, as TFLite fuses a relu or relu6.

Binding: the weights' centred float64 copy and the requantization multipliers are made once when
a node is bound (weights are constants, as the winograd conv's transformed weights are).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlxa.errors import ShapeError
from mlxa.ir.graph import TensorType
from mlxa.ops import conv as conv_op
from mlxa.ops import memory
from mlxa.ops.bound import Step
from mlxa.ops.linalg import matmul_shape
from mlxa.ops.requantize import ROUNDINGS, Requantizer
from mlxa.ops.scratch import scratch, scratch_nbytes
from mlxa.ops.table import Attrs, OpDef, register

F64 = np.dtype(np.float64)
QTYPES = (np.dtype(np.int8), np.dtype(np.uint8))
Arrays = Sequence[np.ndarray]


def qrange(dtype: Any) -> tuple[int, int]:
    info = np.iinfo(np.dtype(dtype))
    return int(info.min), int(info.max)


def _axis_shape(scale: np.ndarray, ndim: int, axis: int) -> tuple[int, ...]:
    """The shape that broadcasts a per-axis scale against a rank-`ndim` tensor."""
    if scale.ndim == 0 or scale.size == 1:
        return ()
    shape = [1] * ndim
    shape[axis % ndim] = scale.size
    return tuple(shape)


def _check_params(x: TensorType, scale: TensorType, zp: TensorType, axis: int,
                  what: str) -> None:
    if scale.dtype != np.float32:
        raise ShapeError(f"{what}: scale {scale} should be f32")
    if zp.shape != scale.shape:
        raise ShapeError(f"{what}: zero point {zp} and scale {scale} differ in shape")
    if len(scale.shape) > 1 or (scale.shape and scale.shape[0] not in (1, x.shape[axis % len(
            x.shape)])):
        raise ShapeError(f"{what}: scale {scale} is neither one value nor one per axis "
                         f"{axis} of {x}")


# -- quantize_linear, dequantize_linear -----------------------------------------------------------

def _quantize_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    x, scale, zp = ins
    if x.dtype != np.float32 or zp.dtype not in QTYPES:
        raise ShapeError(f"quantize_linear takes f32 x and an i8/u8 zero point, got {x}, {zp}")
    _check_params(x, scale, zp, int(attrs.get("axis", 1)), "quantize_linear")
    return (TensorType(x.shape, zp.dtype),)


def _quantize(ins: Arrays, outs: Arrays | None, attrs: Attrs) -> tuple[np.ndarray, ...]:
    x, scale, zp = ins
    shape = _axis_shape(scale, x.ndim, int(attrs.get("axis", 1)))
    q = np.rint(x / scale.reshape(shape)) + zp.reshape(shape).astype(np.float32)
    lo, hi = qrange(zp.dtype)
    out = outs[0] if outs else memory.empty(x.shape, zp.dtype)
    np.copyto(out, np.clip(q, lo, hi), casting="unsafe")
    return (out,)


def _dequantize_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    q, scale, zp = ins
    if q.dtype not in (*QTYPES, np.dtype(np.int32)) or zp.dtype != q.dtype:
        raise ShapeError(f"dequantize_linear takes i8/u8/i32 q and a zero point of its type, "
                         f"got {q}, {zp}")
    _check_params(q, scale, zp, int(attrs.get("axis", 1)), "dequantize_linear")
    return (TensorType(q.shape, np.dtype(np.float32)),)


def _dequantize(ins: Arrays, outs: Arrays | None, attrs: Attrs) -> tuple[np.ndarray, ...]:
    q, scale, zp = ins
    shape = _axis_shape(scale, q.ndim, int(attrs.get("axis", 1)))
    out = outs[0] if outs else memory.empty(q.shape, np.float32)
    np.subtract(q, zp.reshape(shape), out=out, dtype=np.float32)
    np.multiply(out, scale.reshape(shape), out=out)
    return (out,)


def _two_per_element(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    return 2 * outs[0].size


QUANTIZE_LINEAR = register(OpDef(
    "quantize_linear", _quantize_rule, _two_per_element, _quantize,
    doc="f32 -> i8/u8: round half to even of x / scale, plus the zero point, saturated"))
DEQUANTIZE_LINEAR = register(OpDef(
    "dequantize_linear", _dequantize_rule, _two_per_element, _dequantize,
    doc="i8/u8/i32 -> f32: (q - zero_point) * scale"))


# -- qlinear_conv, qlinear_matmul -----------------------------------------------------------------

def _check_quantized(ins: Sequence[TensorType], op: str) -> np.dtype:
    if len(ins) not in (8, 9):
        raise ShapeError(f"{op} takes x, sx, zx, w, sw, zw, sy, zy and an optional i32 bias")
    x, sx, zx, w, sw, zw, sy, zy = ins[:8]
    if x.dtype not in QTYPES or w.dtype not in QTYPES or zy.dtype not in QTYPES:
        raise ShapeError(f"{op}: x {x}, w {w} and the output zero point {zy} must be i8/u8")
    if zx.dtype != x.dtype or zw.dtype != w.dtype:
        raise ShapeError(f"{op}: a zero point differs in type from its tensor")
    if any(s.dtype != np.float32 for s in (sx, sw, sy)) or sx.shape or sy.shape or zy.shape:
        raise ShapeError(f"{op}: scales are f32; x's and y's are scalars")
    if len(ins) == 9 and ins[8].dtype != np.int32:
        raise ShapeError(f"{op}: bias {ins[8]} should be i32")
    return zy.dtype


def _qconv_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    out_dtype = _check_quantized(ins, "qlinear_conv")
    _check_params(ins[3], ins[4], ins[5], 0, "qlinear_conv weight")
    x, w = ins[0], ins[3]
    floats = [TensorType(x.shape, F64), TensorType(w.shape, F64)]
    if len(ins) == 9:
        floats.append(TensorType(ins[8].shape, F64))
    (out,) = conv_op.CONV.shape(floats, attrs)
    return (TensorType(out.shape, out_dtype),)


def _qconv_flops(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    """Integer ops: 2 per multiply-add (as conv's FLOPs), plus the bias add."""
    _, cg, kh, kw = ins[3].shape
    return 2 * outs[0].size * cg * kh * kw + (outs[0].size if len(ins) == 9 else 0)


def _qconv_pieces(ins: Sequence[TensorType], outs: Sequence[TensorType],
                  attrs: Attrs) -> tuple[list[tuple[int, ...]], int]:
    """Scratch: the centred input and the accumulator (float64), then the conv's own."""
    pieces = [ins[0].shape, outs[0].shape]
    inner = conv_op.CONV.workspace_nbytes([TensorType(ins[0].shape, F64),
                                           TensorType(ins[3].shape, F64)],
                                          [TensorType(outs[0].shape, F64)], attrs)
    return pieces, inner


def _qconv_workspace(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    pieces, inner = _qconv_pieces(ins, outs, attrs)
    return scratch_nbytes(pieces, F64) + inner


def _requantizer(ins: Arrays, out: np.ndarray, attrs: Attrs, w_scale: np.ndarray,
                 channel_shape: tuple[int, ...]) -> Requantizer:
    real = (ins[1].astype(np.float32) * w_scale / ins[6]).astype(np.float32)
    if real.size > 1:
        real = real.reshape(channel_shape)
    lo, hi = qrange(out.dtype)
    lo = max(lo, int(attrs.get("act_min", lo)))
    hi = min(hi, int(attrs.get("act_max", hi)))
    rounding = str(attrs.get("rounding", "fixed_point"))
    if rounding not in ROUNDINGS:
        raise ShapeError(f"rounding {rounding!r}: expected one of {', '.join(ROUNDINGS)}")
    return Requantizer(real, ins[7], lo, hi, rounding)


def _centred(w: np.ndarray, zw: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return w.astype(F64) - zw.astype(F64).reshape(shape)


def bind_qconv(ins: Arrays, outs: Arrays, attrs: Attrs, workspace: np.ndarray | None) -> Step:
    x, zx, w = ins[0], ins[2], ins[3]
    out = outs[0]
    o = w.shape[0]
    pieces, inner = _qconv_pieces([TensorType(a.shape, a.dtype) for a in ins],
                                  [TensorType(out.shape, out.dtype)], attrs)
    head = scratch_nbytes(pieces, F64)
    xc, acc = scratch(pieces, F64, None if workspace is None else workspace[:head])
    conv_ws = None if workspace is None or not inner else workspace[head:head + inner]
    wc = _centred(w, ins[5], _axis_shape(ins[4], 4, 0))
    conv_ins = [xc, wc] + ([ins[8].astype(F64)] if len(ins) == 9 else [])
    conv_step = conv_op.bind(conv_ins, acc, attrs, conv_ws)
    requant = _requantizer(ins, out, attrs, ins[4], (1, o, 1, 1))
    x_zero = zx.astype(F64)

    def run() -> None:
        np.subtract(x, x_zero, out=xc, dtype=F64)
        conv_step()
        requant(acc, out)

    return run


def _qconv(ins: Arrays, outs: Arrays | None, attrs: Attrs,
           workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    (t,) = _qconv_rule([TensorType(a.shape, a.dtype) for a in ins], attrs)
    out = outs[0] if outs else memory.empty(t.shape, t.dtype)
    bind_qconv(ins, [out], attrs, workspace)()
    return (out,)


def _qmatmul_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    out_dtype = _check_quantized(ins, "qlinear_matmul")
    a, b = ins[0], ins[3]
    if len(b.shape) != 2:
        raise ShapeError(f"qlinear_matmul: b {b} should be 2-D [K, N]")
    _check_params(b, ins[4], ins[5], 1, "qlinear_matmul b")
    if len(ins) == 9 and ins[8].shape != (b.shape[1],):
        raise ShapeError(f"qlinear_matmul: bias {ins[8]} should be [{b.shape[1]}]")
    return (TensorType(matmul_shape(a.shape, b.shape), out_dtype),)


def _qmatmul_flops(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    return 2 * outs[0].size * ins[3].shape[0] + (outs[0].size if len(ins) == 9 else 0)


def _qmatmul_workspace(ins: Sequence[TensorType], outs: Sequence[TensorType],
                       attrs: Attrs) -> int:
    return scratch_nbytes([ins[0].shape, outs[0].shape], F64)


def bind_qmatmul(ins: Arrays, outs: Arrays, attrs: Attrs,
                 workspace: np.ndarray | None) -> Step:
    a, za, b = ins[0], ins[2], ins[3]
    out = outs[0]
    ac, acc = scratch([a.shape, out.shape], F64, workspace)
    bc = _centred(b, ins[5], _axis_shape(ins[4], 2, 1))
    bias = ins[8].astype(F64) if len(ins) == 9 else None
    requant = _requantizer(ins, out, attrs, ins[4], (b.shape[1],))
    a_zero = za.astype(F64)

    def run() -> None:
        np.subtract(a, a_zero, out=ac, dtype=F64)
        np.matmul(ac, bc, out=acc)
        if bias is not None:
            np.add(acc, bias, out=acc)
        requant(acc, out)

    return run


def _qmatmul(ins: Arrays, outs: Arrays | None, attrs: Attrs,
             workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    (t,) = _qmatmul_rule([TensorType(a.shape, a.dtype) for a in ins], attrs)
    out = outs[0] if outs else memory.empty(t.shape, t.dtype)
    bind_qmatmul(ins, [out], attrs, workspace)()
    return (out,)


QLINEAR_CONV = register(OpDef(
    "qlinear_conv", _qconv_rule, _qconv_flops, _qconv, workspace=_qconv_workspace,
    bind=bind_qconv,
    doc="ONNX QLinearConv: 8-bit x and per-channel w, int32 accumulation and bias, "
        "requantized to 8 bits (fixed-point multiplier and shift, or ONNX Runtime's float)"))
QLINEAR_MATMUL = register(OpDef(
    "qlinear_matmul", _qmatmul_rule, _qmatmul_flops, _qmatmul, workspace=_qmatmul_workspace,
    bind=bind_qmatmul,
    doc="ONNX QLinearMatMul (plus an optional i32 bias): 8-bit a @ b, int32 accumulation, "
        "requantized to 8 bits"))


# -- qlinear_add ----------------------------------------------------------------------------------

def _qadd_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    if len(ins) != 8:
        raise ShapeError("qlinear_add takes a, sa, za, b, sb, zb, sy, zy")
    a, sa, za, b, sb, zb, sy, zy = ins
    if any(t.dtype not in QTYPES for t in (a, b, zy)) or za.dtype != a.dtype or \
            zb.dtype != b.dtype:
        raise ShapeError(f"qlinear_add: a {a}, b {b} and their zero points must be i8/u8")
    if any(t.shape or t.dtype != np.float32 for t in (sa, sb, sy)) or any(
            t.shape for t in (za, zb, zy)):
        raise ShapeError("qlinear_add: scales (f32) and zero points are scalars")
    try:
        shape = tuple(np.broadcast_shapes(a.shape, b.shape))
    except ValueError:
        raise ShapeError(f"qlinear_add: {a} and {b} do not broadcast") from None
    return (TensorType(shape, zy.dtype),)


def _qadd(ins: Arrays, outs: Arrays | None, attrs: Attrs) -> tuple[np.ndarray, ...]:
    """Dequantize both, add, quantize (float32 throughout, the QDQ form's own arithmetic: ONNX
    Runtime runs the exported DQ, DQ, Add, Q to the same bits)."""
    a, sa, za, b, sb, zb, sy, zy = ins
    (t,) = _qadd_rule([TensorType(x.shape, x.dtype) for x in ins], attrs)
    out = outs[0] if outs else memory.empty(t.shape, t.dtype)
    total = (np.subtract(a, za, dtype=np.float32) * sa
             + np.subtract(b, zb, dtype=np.float32) * sb)
    lo, hi = qrange(zy.dtype)
    lo = max(lo, int(attrs.get("act_min", lo)))
    hi = min(hi, int(attrs.get("act_max", hi)))
    q = np.rint(total / sy) + np.float32(zy)
    np.copyto(out, np.clip(q, lo, hi), casting="unsafe")
    return (out,)


def _qadd_flops(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    return 6 * outs[0].size  # two dequantizes, the add, the quantize


QLINEAR_ADD = register(OpDef(
    "qlinear_add", _qadd_rule, _qadd_flops, _qadd,
    doc="8-bit a + b: dequantize both, add and quantize in float32 (ONNX Runtime's QLinearAdd "
        "contract), clamped to act_min/act_max"))
