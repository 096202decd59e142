"""The Numba loops behind kernels/jit.py (imported only when one is bound: it needs numba).

Single-threaded, like the --threads 1 comparisons. Numba without Intel's SVML calls libm's
scalar expf/tanhf, which stops the loop vectorising: a transcendental chain then runs at the
scalar libm rate. `_exp` instead is a polynomial with exponent-bit scaling that LLVM vectorises:
x = n ln2 + r with |r| <= ln2/2, e^r by its degree-6 Taylor polynomial (truncation below 2e-8
relative, within float32 rounding), 2^n written into the exponent field of a float32.
"""

from __future__ import annotations

import numba
import numpy as np

LOG2E = np.float32(1.4426950408889634)
LN2_HI = np.float32(0.693359375)  # ln 2 in two parts: n * LN2_HI is exact for |n| < 2^9
LN2_LO = np.float32(-2.12194440e-4)


@numba.njit(cache=True, boundscheck=False)
def depthwise(x, w, b, out, sh, sw, pt, pl, lo, hi):  # pragma: no cover - compiled
    """out[n, c] = clamp(sum_ij w[c, 0, i, j] * x[n, c, oy*sh - pt + i, ox*sw - pl + j] + b[c],
    lo, hi), zero padding. Per output row: a row accumulator (its own buffer, so the compiler
    sees no aliasing), the window's columns clipped to the image once per (row, tap) so the
    inner loop has no branch; stride 1 reads a contiguous run, which vectorises."""
    nb, ch, hgt, wid = x.shape
    kh, kw = w.shape[2], w.shape[3]
    oh, ow = out.shape[2], out.shape[3]
    acc = np.empty(ow, np.float32)
    for n in range(nb):
        for c in range(ch):
            for oy in range(oh):
                acc[:] = b[c]
                for i in range(kh):
                    iy = oy * sh - pt + i
                    if iy < 0 or iy >= hgt:
                        continue
                    for j in range(kw):
                        off = j - pl
                        first = max(0, (-off + sw - 1) // sw)
                        last = min(ow, (wid - off + sw - 1) // sw)
                        if last <= first:
                            continue
                        wv = w[c, 0, i, j]
                        a = acc[first:last]  # 0-based slices: the loop index is provably
                        src = x[n, c, iy, first * sw + off:]  # >= 0, so no wraparound branch
                        if sw == 1:
                            for k in range(last - first):
                                a[k] += wv * src[k]
                        else:
                            for k in range(last - first):
                                a[k] += wv * src[k * sw]
                for ox in range(ow):
                    out[n, c, oy, ox] = min(max(acc[ox], lo), hi)


@numba.njit(cache=True, boundscheck=False)
def depthwise_s1(x, w, b, out, pt, pl, lo, hi, pad, acc):  # pragma: no cover - compiled
    """Stride 1: per channel, the image copied into a zero-padded (Hp, Wp) buffer once, then
    each tap one contiguous run over the whole "wide" output (P = (oh-1)*Wp + ow positions at
    the padded pitch, the Wp - ow columns past each row ignored): 9 long vectorised loops per
    channel instead of 9 short ones per output row. `pad` holds Hp*Wp floats, `acc` P."""
    nb, ch, hgt, wid = x.shape
    kh, kw = w.shape[2], w.shape[3]
    oh, ow = out.shape[2], out.shape[3]
    hp, wp = oh - 1 + kh, ow - 1 + kw
    npos = (oh - 1) * wp + ow
    img = pad[:hp * wp].reshape(hp, wp)
    rows, cols = min(hgt, hp - pt), min(wid, wp - pl)
    img[:, :] = 0.0
    for n in range(nb):
        for c in range(ch):
            for r in range(rows):
                for q in range(cols):
                    img[pt + r, pl + q] = x[n, c, r, q]
            a = acc[:npos]
            a[:] = b[c]
            for i in range(kh):
                for j in range(kw):
                    wv = w[c, 0, i, j]
                    src = pad[i * wp + j:i * wp + j + npos]
                    for k in range(npos):
                        a[k] += wv * src[k]
            for oy in range(oh):
                for ox in range(ow):
                    out[n, c, oy, ox] = min(max(a[oy * wp + ox], lo), hi)


@numba.njit(cache=True, boundscheck=False)
def depthwise_s2(x, w, b, out, pt, pl, lo, hi, phases, acc):  # pragma: no cover - compiled
    """Stride 2: per channel, the zero-padded image split once into its four phases (row and
    column parity), each (Hq, Wq); tap (i, j) then reads phase (i % 2, j % 2) at a constant
    offset, so, as at stride 1, each tap is one contiguous run over the wide output (pitch Wq).
    `phases` holds 4*Hq*Wq floats, `acc` (oh-1)*Wq + ow."""
    nb, ch, hgt, wid = x.shape
    kh, kw = w.shape[2], w.shape[3]
    oh, ow = out.shape[2], out.shape[3]
    hq, wq = oh + (kh - 1) // 2, ow + (kw - 1) // 2
    size = hq * wq
    npos = (oh - 1) * wq + ow
    ph = phases[:4 * size].reshape(2, 2, hq, wq)
    for n in range(nb):
        for c in range(ch):
            ph[:, :, :, :] = 0.0
            for r in range(hgt):
                y = r + pt
                if y >= 2 * hq:
                    break
                for q in range(wid):
                    xx = q + pl
                    if xx < 2 * wq:
                        ph[y % 2, xx % 2, y // 2, xx // 2] = x[n, c, r, q]
            a = acc[:npos]
            a[:] = b[c]
            for i in range(kh):
                for j in range(kw):
                    wv = w[c, 0, i, j]
                    start = ((i % 2) * 2 + j % 2) * size + (i // 2) * wq + j // 2
                    src = phases[start:start + npos]
                    for k in range(npos):
                        a[k] += wv * src[k]
            for oy in range(oh):
                for ox in range(ow):
                    out[n, c, oy, ox] = min(max(a[oy * wq + ox], lo), hi)


@numba.njit(cache=True, boundscheck=False)
def layer_norm(x, scale, bias, out, eps):  # pragma: no cover - compiled
    """Rows of x (R, C): mean and variance in one read (float64 sums of x - x[0], shifted so
    that the sum of squares does not cancel), then one write."""
    rows, cols = x.shape
    for r in range(rows):
        shift = np.float64(x[r, 0])
        s = 0.0
        s2 = 0.0
        for j in range(cols):
            d = np.float64(x[r, j]) - shift
            s += d
            s2 += d * d
        mean_d = s / cols
        var = max(s2 / cols - mean_d * mean_d, 0.0)
        rstd = np.float32(1.0 / np.sqrt(var + eps))
        mean = np.float32(mean_d + shift)
        for j in range(cols):
            out[r, j] = (x[r, j] - mean) * rstd * scale[j] + bias[j]


@numba.njit(cache=True, boundscheck=False)
def softmax(x, out):  # pragma: no cover - compiled
    """Rows of x (R, C), each read from memory once: its max, then e^(x - max) by the
    vectorised polynomial exp (written to the output row and summed in float64), then the
    output row scaled by 1/sum while it is still in L1."""
    rows, cols = x.shape
    bits = np.empty(cols, np.int32)
    scale = bits.view(np.float32)
    for r in range(rows):
        m = x[r, 0]
        for j in range(cols):
            m = max(m, x[r, j])
        o = out[r]
        for j in range(cols):
            t = max(x[r, j] - m, np.float32(-87.0))
            n = np.floor(t * LOG2E + np.float32(0.5))
            q = t - n * LN2_HI - n * LN2_LO
            p = np.float32(1.0 / 720.0)
            p = p * q + np.float32(1.0 / 120.0)
            p = p * q + np.float32(1.0 / 24.0)
            p = p * q + np.float32(1.0 / 6.0)
            p = p * q + np.float32(0.5)
            p = p * q + np.float32(1.0)
            o[j] = p * q + np.float32(1.0)
            bits[j] = (np.int32(n) + np.int32(127)) << 23
        s = 0.0
        for j in range(cols):
            o[j] *= scale[j]
            s += o[j]
        inv = np.float32(1.0 / s)
        for j in range(cols):
            o[j] *= inv


@numba.njit(cache=True, boundscheck=False)
def bias_gelu(x, b, out):  # pragma: no cover - compiled
    """out = gelu_tanh(x + b) over rows of (R, C), b (C,): gelu(u) = 0.5 u (1 + tanh z) =
    u / (1 + e^(-2z)), z = sqrt(2/pi) (u + 0.044715 u^3). Per row, a first loop writes u, the
    polynomial of e^r and the exponent bits of 2^n into row buffers; a second scales and
    divides. Both loops vectorise; the row buffers are made once per call (a view per call of
    a helper, or a buffer per chunk, costs microseconds each in Numba's runtime)."""
    rows, cols = x.shape
    c0 = np.float32(-2.0 * 0.7978845608028654)
    c1 = np.float32(0.044715)
    u = np.empty(cols, np.float32)
    e = np.empty(cols, np.float32)
    bits = np.empty(cols, np.int32)
    scale = bits.view(np.float32)
    for r in range(rows):
        for j in range(cols):
            uj = x[r, j] + b[j]
            u[j] = uj
            t = c0 * (uj + c1 * uj * uj * uj)
            t = min(max(t, np.float32(-87.0)), np.float32(88.0))
            n = np.floor(t * LOG2E + np.float32(0.5))
            q = t - n * LN2_HI - n * LN2_LO
            p = np.float32(1.0 / 720.0)
            p = p * q + np.float32(1.0 / 120.0)
            p = p * q + np.float32(1.0 / 24.0)
            p = p * q + np.float32(1.0 / 6.0)
            p = p * q + np.float32(0.5)
            p = p * q + np.float32(1.0)
            e[j] = p * q + np.float32(1.0)
            bits[j] = (np.int32(n) + np.int32(127)) << 23
        for j in range(cols):
            out[r, j] = u[j] / (np.float32(1.0) + e[j] * scale[j])


@numba.njit(cache=True, boundscheck=False)
def bias_gelu_libm(x, b, out):  # pragma: no cover - compiled
    """The same chain through np.tanh (libm's scalar tanhf without SVML): the naive fusion."""
    rows, cols = x.shape
    c0 = np.float32(0.7978845608028654)
    c1 = np.float32(0.044715)
    for r in range(rows):
        for j in range(cols):
            u = x[r, j] + b[j]
            out[r, j] = np.float32(0.5) * u * (np.float32(1.0) + np.tanh(c0 * (u + c1 * u * u * u)))
