"""Requantization: an int32 accumulator back to 8 bits, two ways.

`fixed_point` (gemmlowp's quantization.md, TFLite's quantization spec): the real multiplier
M = s_x * s_w / s_y (in (0, 1) in practice) is written once as M = M0 * 2^shift with M0 a Q31
integer in [2^30, 2^31); an accumulator `acc` becomes
    high = SaturatingRoundingDoublingHighMul(acc * 2^max(shift, 0), M0)
    result = RoundingDivideByPOT(high, max(-shift, 0))
in integer arithmetic only. The high multiply rounds a half up, toward +infinity (its nudge is
2^30, or 1 - 2^30 for a negative product, then C's division truncates toward zero); the division
by a power of two rounds a half away from zero. Two roundings in a row (TFLite's reference
kernels without TFLITE_SINGLE_ROUNDING): the result is within one step of acc * M, not always the
nearest (acc = 1, M = 1/4: 0.25 -> 0.5 -> 1); the tests state the exact rule.

`float` (ONNX Runtime's MLAS on CPU): float32(acc) * float32(M), rounded to nearest, ties to
even. The two differ by one step where acc * M falls on (or within M0's error of) a half: the
tests count how often on real layers, and the README says why.
"""

from __future__ import annotations

import math

import numpy as np

ROUNDINGS = ("fixed_point", "float")
Q31 = 1 << 31


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(M0, shift) with real = M0 * 2^(shift - 31), M0 in [2^30, 2^31) (TFLite's
    QuantizeMultiplier); (0, 0) for real == 0. Needs real >= 0."""
    if real < 0 or not math.isfinite(real):
        raise ValueError(f"requantization multiplier {real} is not a finite non-negative number")
    if real == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real)  # real = fraction * 2^shift, fraction in [0.5, 1)
    m0 = round(fraction * Q31)
    if m0 == Q31:  # the fraction rounded up to 1.0
        m0 //= 2
        shift += 1
    if shift < -31:  # too small to matter: every accumulator maps to 0
        return 0, 0
    return m0, shift


def multipliers(real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """quantize_multiplier over an array: (M0 int64, shift int64), same shape."""
    pairs = [quantize_multiplier(float(r)) for r in np.ravel(real)]
    m0 = np.array([p[0] for p in pairs], np.int64).reshape(np.shape(real))
    shift = np.array([p[1] for p in pairs], np.int64).reshape(np.shape(real))
    return m0, shift


def saturating_rounding_doubling_high_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul on int32 values held in int64: the high 32
    bits of 2ab, rounded half away from zero; the one overflow (a = b = -2^31) saturates."""
    ab = a.astype(np.int64) * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    total = ab + nudge
    high = np.where(total >= 0, total >> 31, -((-total) >> 31))  # C division: toward zero
    overflow = (a == -Q31) & (b == -Q31)
    return np.where(overflow, Q31 - 1, high)


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """gemmlowp's RoundingDivideByPOT: x / 2^exponent rounded half away from zero."""
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def requantize_fixed_point(acc: np.ndarray, m0: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """round(acc * M0 * 2^(shift-31)) as TFLite's MultiplyByQuantizedMultiplier computes it;
    acc int64 (int32 values), m0 and shift broadcast against it. int64 result, not clamped."""
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    high = saturating_rounding_doubling_high_mul(acc << left, m0)
    return rounding_divide_by_pot(high, right)


def requantize_float(acc: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """ONNX Runtime's CPU rounding: float32(acc) * float32(scale), ties to even; int64."""
    product = acc.astype(np.float32) * np.asarray(scale, np.float32)
    return np.rint(product).astype(np.int64)


def requantize(acc: np.ndarray, real: np.ndarray, zero_point: np.ndarray, lo: int, hi: int,
               rounding: str = "fixed_point") -> np.ndarray:
    """acc (integer-valued) * real, rounded as `rounding` says, plus the zero point, clamped to
    [lo, hi]: the int64 result (the caller casts it to the 8-bit type)."""
    acc = np.asarray(acc).astype(np.int64)
    if rounding == "fixed_point":
        m0, shift = multipliers(np.asarray(real, np.float64))
        scaled = requantize_fixed_point(acc, m0, shift)
    elif rounding == "float":
        scaled = requantize_float(acc, real)
    else:
        raise ValueError(f"rounding {rounding!r}: expected one of {', '.join(ROUNDINGS)}")
    return np.clip(scaled + np.asarray(zero_point, np.int64), lo, hi)


class Requantizer:
    """A requantization prepared once (multipliers from the scales), applied on every call:
    `(acc, out)` writes the clamped 8-bit result of the integer-valued `acc` into `out`.
    `real` and `zero_point` broadcast against acc (per output channel, or one for all)."""

    def __init__(self, real: np.ndarray, zero_point: np.ndarray, lo: int, hi: int,
                 rounding: str) -> None:
        if rounding not in ROUNDINGS:
            raise ValueError(f"rounding {rounding!r}: expected one of {', '.join(ROUNDINGS)}")
        self.real = np.asarray(real, np.float32)
        self.m0, self.shift = multipliers(self.real.astype(np.float64))
        self.zero_point = np.asarray(zero_point, np.int64)
        self.lo, self.hi, self.rounding = lo, hi, rounding

    def __call__(self, acc: np.ndarray, out: np.ndarray) -> None:
        whole = acc.astype(np.int64)
        if self.rounding == "fixed_point":
            scaled = requantize_fixed_point(whole, self.m0, self.shift)
        else:
            scaled = requantize_float(whole, self.real)
        scaled += self.zero_point
        np.clip(scaled, self.lo, self.hi, out=scaled)
        np.copyto(out, scaled, casting="unsafe")
