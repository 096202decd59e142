"""JAX lowering rules of the quantized ops (ops/quant.py), bit for bit with their numpy kernels.

JAX runs without 64-bit types by default, so integer products accumulate in int32 (exact for
8-bit operands) and the fixed-point requantization's 32 x 32 -> 64-bit high multiply is done in
16-bit limbs on uint32 (requantize.py states the rounding; this is the same arithmetic). The
multiplier M0 and shift come from the scales at trace time through frexp, as
requantize.quantize_multiplier computes them (M = float32(s_x * s_w / s_y)).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
from jax import lax

from mlxa.ir.graph import Value
from mlxa.ops.quant import qrange
from mlxa.ops.spatial import window
from mlxa.ops.table import Attrs

I32, U32, F32 = jnp.int32, jnp.uint32, jnp.float32


def _per_axis(scale: Any, ndim: int, axis: int) -> Any:
    if scale.ndim == 0:
        return scale
    shape = [1] * ndim
    shape[axis % ndim] = -1
    return scale.reshape(shape)


def _quantize(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    x, scale, zp = args
    axis = int(attrs.get("axis", 1))
    q = jnp.round(x / _per_axis(scale, x.ndim, axis)) + _per_axis(zp, x.ndim, axis).astype(F32)
    lo, hi = qrange(outs[0].dtype)
    return jnp.clip(q, lo, hi).astype(outs[0].dtype)


def _dequantize(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    q, scale, zp = args
    axis = int(attrs.get("axis", 1))
    centred = q.astype(F32) - _per_axis(zp, q.ndim, axis).astype(F32)
    return centred * _per_axis(scale, q.ndim, axis)


def _high_mul(a: Any, m0: Any) -> Any:
    """SaturatingRoundingDoublingHighMul(a, m0) for m0 >= 0: floor((|a m0| + 2^30 - [a < 0])
    / 2^31) with a's sign, from 16-bit limbs (no product exceeds 32 bits)."""
    negative = a < 0
    # |a| as uint32 (-2^31 wraps to itself as int32, and reads as 2^31 as uint32)
    ua = jnp.where(negative, -a, a).astype(U32)
    b = m0.astype(U32)
    a0, a1 = ua & 0xFFFF, ua >> 16
    b0, b1 = b & 0xFFFF, b >> 16
    p00, mid, p11 = a0 * b0, a0 * b1 + a1 * b0, a1 * b1
    low = p00 + (mid << 16)
    high = p11 + (mid >> 16) + (low < p00).astype(U32)
    nudge = jnp.where(negative, U32((1 << 30) - 1), U32(1 << 30))
    low2 = low + nudge
    high = high + (low2 < low).astype(U32)
    magnitude = ((high << 1) | (low2 >> 31)).astype(I32)
    return jnp.where(negative, -magnitude, magnitude)


def _divide_by_pot(x: Any, exponent: Any) -> Any:
    """RoundingDivideByPOT: x / 2^exponent, a half away from zero (int32 wraps as C's does)."""
    mask = (I32(1) << exponent) - 1
    threshold = (mask >> 1) + (x < 0).astype(I32)
    return (x >> exponent) + ((x & mask) > threshold).astype(I32)


def _requantize(acc: Any, real: Any, zp: Any, out: Value, attrs: Attrs) -> Any:
    if attrs.get("rounding", "fixed_point") == "float":
        scaled = jnp.round(acc.astype(F32) * real).astype(I32)
    else:
        fraction, shift = jnp.frexp(real)
        m0 = jnp.round(fraction * F32(1 << 31)).astype(I32)
        tiny = shift < -31  # every accumulator maps to 0 (quantize_multiplier's (0, 0))
        m0, shift = jnp.where(tiny, 0, m0), jnp.where(tiny, 0, shift)
        left, right = jnp.maximum(shift, 0), jnp.maximum(-shift, 0)
        scaled = _divide_by_pot(_high_mul(acc << left, m0), right)
    lo, hi = qrange(out.dtype)
    lo = max(lo, int(attrs.get("act_min", lo)))
    hi = min(hi, int(attrs.get("act_max", hi)))
    return jnp.clip(scaled + zp.astype(I32), lo, hi).astype(out.dtype)


def _real(sx: Any, sw: Any, sy: Any) -> Any:
    return (sx.astype(F32) * sw / sy).astype(F32)


def _qlinear_conv(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    x, sx, zx, w, sw, zw, sy, zy = args[:8]
    per_channel = (-1, 1, 1, 1)
    xc = x.astype(I32) - zx.astype(I32)
    wc = w.astype(I32) - (zw.reshape(per_channel) if zw.ndim else zw).astype(I32)
    win = window(x.shape[2], x.shape[3], w.shape[2], w.shape[3], attrs)
    top, left = win.pads[0], win.pads[1]
    pads = ((top, win.padded_h - win.h - top), (left, win.padded_w - win.w - left))
    acc = lax.conv_general_dilated(
        xc, wc, window_strides=win.strides, padding=pads, rhs_dilation=win.dilations,
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        feature_group_count=int(attrs.get("group", 1)), preferred_element_type=I32)
    if len(args) == 9:
        acc = acc + args[8].reshape(1, -1, 1, 1)
    real = _real(sx, sw, sy)
    return _requantize(acc, real.reshape(1, -1, 1, 1) if real.ndim else real, zy, outs[0], attrs)


def _qlinear_matmul(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    a, sa, za, b, sb, zb, sy, zy = args[:8]
    acc = jnp.matmul(a.astype(I32) - za.astype(I32), b.astype(I32) - zb.astype(I32),
                     preferred_element_type=I32)
    if len(args) == 9:
        acc = acc + args[8]
    return _requantize(acc, _real(sa, sb, sy), zy, outs[0], attrs)


def _qlinear_add(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    a, sa, za, b, sb, zb, sy, zy = args
    total = (a.astype(F32) - za.astype(F32)) * sa + (b.astype(F32) - zb.astype(F32)) * sb
    q = jnp.round(total / sy) + zy.astype(F32)
    lo, hi = qrange(outs[0].dtype)
    lo = max(lo, int(attrs.get("act_min", lo)))
    hi = min(hi, int(attrs.get("act_max", hi)))
    return jnp.clip(q, lo, hi).astype(outs[0].dtype)


RULES = {"quantize_linear": _quantize, "dequantize_linear": _dequantize,
         "qlinear_conv": _qlinear_conv, "qlinear_matmul": _qlinear_matmul,
         "qlinear_add": _qlinear_add}
