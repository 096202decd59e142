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


# sigmoid(x) - 1/2 = x P(x^2) / Q(x^2) on |x| <= 16, P of degree 3 and Q of degree 4 in x^2,
# Q(0) = 1: fitted for least maximum absolute error over [0, 16] (Loeb's linearisation with
# Lawson's weights, float64). Error 6.5e-8 in exact arithmetic, under 2.5e-7 evaluated in
# float32; beyond |x| = 16 sigmoid is within 1.2e-7 of 0 or 1. Eleven multiply-adds and one
# division against the exp route's sixteen operations: the rational form is the faster one.
S_P = (F(0.24999984062992828), F(0.008071041988498612), F(4.591961023328651e-05),
       F(4.418168949715381e-08))
S_Q = (F(1.0), F(0.11561691514742717), F(0.0014852462579713704), F(3.7036295479342936e-06),
       F(9.468486851518616e-10))
S_CLAMP = F(16.0)  # beyond, sigmoid is within 1.2e-7 of 0 or 1


@numba.njit(inline="always", fastmath=FASTMATH, error_model="numpy")
def _sigmoid_centred(c):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """sigmoid(c) - 1/2 for |c| <= 16."""
    z = c * c
    p = ((S_P[3] * z + S_P[2]) * z + S_P[1]) * z + S_P[0]
    q = (((S_Q[4] * z + S_Q[3]) * z + S_Q[2]) * z + S_Q[1]) * z + S_Q[0]
    return c * p / q


@numba.njit(inline="always", fastmath=FASTMATH, error_model="numpy")
def vsigmoid(x):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """1 / (1 + e^-x) within 2.5e-7 and inside [0, 1] (checked on every float32 of |x| in
    [8, 16] by the tests): exactly 0 at or below -16 and 1 at or above 16, so that
    -inf * sigmoid(-inf) is NaN as numpy has it; NaN for NaN. Beyond 16 the rational value is
    discarded by the selects (a select, not a branch, so the loop vectorises)."""
    s = _sigmoid_centred(x) + F(0.5)
    s = F(0.0) if x <= -S_CLAMP else s
    return F(1.0) if x >= S_CLAMP else s


@numba.njit(inline="always", fastmath=FASTMATH, error_model="numpy")
def vtanh(x):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """tanh(x) = 2 (sigmoid(2x) - 1/2) within 5e-7, inside [-1, 1]; exactly -1 and 1 beyond
    |x| = 8, NaN for NaN."""
    t = F(2.0) * _sigmoid_centred(F(2.0) * x)
    t = F(-1.0) if x <= -S_CLAMP / F(2.0) else t
    return F(1.0) if x >= S_CLAMP / F(2.0) else t
