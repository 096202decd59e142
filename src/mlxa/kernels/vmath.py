"""Vectorisable float32 transcendentals for Numba loops (imported only when a Numba kernel is
bound: it needs numba).

Numba without Intel's SVML calls libm's scalar expf/tanhf, and a call stops LLVM from
vectorising the loop around it. `vexp` is straight-line arithmetic instead, inlined into the
caller: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite: ln2 in two parts, so n ln2 is exact),
e^r by a degree-5 minimax polynomial (P0..P5 below), and 2^n made by writing n + 127 into a
float32's exponent bits (`f32_bits`, a bit cast LLVM vectorises). Out of range, selects give
numpy's infinity and (flushed) zero. Division is left to the caller: Numba's default error model
checks each divisor for zero, which also stops vectorisation, so loops compile with
error_model="numpy".
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

F = np.float32
LOG2E = F(1.4426950408889634)
LN2_HI = F(0.693359375)  # 8 significant bits: n * LN2_HI is exact for |n| < 2^15
LN2_LO = F(-2.12194440e-4)
# e^r on |r| <= ln2/2 by a degree-5 polynomial fitted for least maximum relative error (Lawson's
# iteration of weighted least squares, in float64): 7.6e-8 in exact arithmetic, 2.1e-7 (under two
# float32 roundings) evaluated in float32 by Horner's rule; one multiply-add fewer than Taylor's
# degree 6 at the same accuracy
P0, P1, P2, P3, P4, P5 = (F(1.0000000713991986), F(0.9999996925306888), F(0.49998897302012024),
                          F(0.16667574854311604), F(0.041915120107174866),
                          F(0.008297532149513835))
EXP_BIAS = F(127 << 23)  # (n + 127) << 23, made in float32 arithmetic: exact for |n| <= 127
LN_MAX = 88.72283  # float32 below ln(FLT_MAX): above, e^t is infinite
LN_MIN = -87.33654  # ln(FLT_MIN): below, e^t is subnormal
MANTISSA = F(1 << 23)
FASTMATH = {"contract"}  # fused multiply-add only: NaN, infinity and rounding order stay


@intrinsic
def f32_bits(typingctx, bits):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """The float32 whose bit pattern is the int32 `bits`."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.FloatType())
    return sig, codegen


@numba.njit(inline="always", fastmath=FASTMATH, error_model="numpy")
def _poly(t):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """(n, e^r) with t = n ln2 + r, |r| <= ln2/2."""
    n = np.floor(t * LOG2E + F(0.5))
    r = t - n * LN2_HI - n * LN2_LO
    p = P5
    p = p * r + P4
    p = p * r + P3
    p = p * r + P2
    p = p * r + P1
    return n, p * r + P0


@numba.njit(inline="always", fastmath=FASTMATH, error_model="numpy")
def vexp(t):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """e^t as numpy's float32 exp gives it: infinity above ln(FLT_MAX), 0 below ln(FLT_MIN)
    (numpy's subnormal results, under 1.2e-38, become 0), NaN for NaN. 2^n is applied as
    2^(n-1) * 2 so that n = 128 (t up to ln(FLT_MAX)) does not overflow the exponent field."""
    c = F(LN_MIN) if t < F(LN_MIN) else t
    c = F(LN_MAX) if c > F(LN_MAX) else c
    n, p = _poly(c)
    e = p * f32_bits(np.int32(n * MANTISSA + (EXP_BIAS - MANTISSA))) * F(2.0)
    e = F(np.inf) if t > F(LN_MAX) else e
    return F(0.0) if t < F(LN_MIN) else e


@numba.njit(inline="always", fastmath=FASTMATH, error_model="numpy")
def vexp_neg(t):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """e^t for t <= 0 (0 below ln(FLT_MIN), NaN for NaN): no overflow to guard, for callers
    that pass -|x| (sigmoid, tanh, erf)."""
    c = F(LN_MIN) if t < F(LN_MIN) else t
    n, p = _poly(c)
    e = p * f32_bits(np.int32(n * MANTISSA + EXP_BIAS))
    return F(0.0) if t < F(LN_MIN) else e
