"""The Numba loops behind kernels/jit.py (imported only when one is bound: it needs numba).

Single-threaded, like the --threads 1 comparisons. Transcendentals come from kernels/vmath.py
(libm's scalar expf/tanhf would stop the loops vectorising); `bias_gelu_libm` keeps the libm
call on purpose, as the kernels study's naive fusion.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from mlxa.kernels.vmath import FASTMATH, vexp_neg


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
def _copy(src, dst, count):  # pragma: no cover - compiled
    """dst[:count] = src[:count] as a plain loop: numba's slice assignment checks shapes and
    overlap on every call, which costs more than the copy for a 7-wide row."""
    for k in range(count):
        dst[k] = src[k]


@numba.njit(cache=True, boundscheck=False, fastmath={"contract"})
def _taps3_s1(src, s0, pitch, wc, bias, lo, hi, dst, count):  # pragma: no cover - compiled
    """dst[k] = clamp(bias + sum_ij wc[i, j] * src[s0 + k + i*pitch + j], lo, hi), k < count:
    the 3x3 taps in registers, one store per output; every read is a contiguous run."""
    w00, w01, w02 = wc[0, 0], wc[0, 1], wc[0, 2]
    w10, w11, w12 = wc[1, 0], wc[1, 1], wc[1, 2]
    w20, w21, w22 = wc[2, 0], wc[2, 1], wc[2, 2]
    r0 = src[s0:s0 + count + 2]  # 0-based views: the index is provably >= 0
    r1 = src[s0 + pitch:s0 + pitch + count + 2]
    r2 = src[s0 + 2 * pitch:s0 + 2 * pitch + count + 2]
    for k in range(count):
        s = (bias + w00 * r0[k] + w01 * r0[k + 1] + w02 * r0[k + 2]
             + w10 * r1[k] + w11 * r1[k + 1] + w12 * r1[k + 2]
             + w20 * r2[k] + w21 * r2[k + 1] + w22 * r2[k + 2])
        dst[k] = min(max(s, lo), hi)


@numba.njit(cache=True, boundscheck=False, fastmath={"contract"})
def _taps3_s2(ph, s0, size, wq, wc, bias, lo, hi, dst, count):  # pragma: no cover - compiled
    """Stride 2 over the four phase planes of `ph` (ee, eo, oe, oo, each `size` floats at
    pitch wq): tap (i, j) reads plane (i % 2, j % 2) at (i // 2)*wq + j // 2 past s0."""
    w00, w01, w02 = wc[0, 0], wc[0, 1], wc[0, 2]
    w10, w11, w12 = wc[1, 0], wc[1, 1], wc[1, 2]
    w20, w21, w22 = wc[2, 0], wc[2, 1], wc[2, 2]
    ee0 = ph[s0:s0 + count + 1]  # 0-based views read at k and k + 1 only: an index that
    eo0 = ph[size + s0:size + s0 + count]  # could be negative would make numba wrap it, and
    oe = ph[2 * size + s0:2 * size + s0 + count + 1]  # LLVM then gathers
    oo = ph[3 * size + s0:3 * size + s0 + count]
    ee2 = ph[s0 + wq:s0 + wq + count + 1]
    eo2 = ph[size + s0 + wq:size + s0 + wq + count]
    for k in range(count):
        s = (bias + w00 * ee0[k] + w01 * eo0[k] + w02 * ee0[k + 1]
             + w10 * oe[k] + w11 * oo[k] + w12 * oe[k + 1]
             + w20 * ee2[k] + w21 * eo2[k] + w22 * ee2[k + 1])
        dst[k] = min(max(s, lo), hi)


@numba.njit(cache=True, boundscheck=False, fastmath={"contract"})
def _taps_any(src, starts, wc, bias, lo, hi, acc, count):  # pragma: no cover - compiled
    """Any kernel size: acc[k] = clamp(bias + sum_t wc.flat[t] * src[starts[t] + k]), one
    contiguous pass per tap over `count` positions, then the clamp."""
    a = acc[:count]
    a[:] = bias
    kw = wc.shape[1]
    for t in range(starts.size):
        wv = wc[t // kw, t % kw]
        s = src[starts[t]:starts[t] + count]
        for k in range(count):
            a[k] += wv * s[k]
    for k in range(count):
        a[k] = min(max(a[k], lo), hi)


@numba.njit(cache=True, boundscheck=False)
def depthwise_s1(x, w, b, out, pt, pl, lo, hi, pad, acc, rowwise):  # pragma: no cover - compiled
    """Stride 1: per channel the image copied, a row slice at a time, into a zero-padded
    (Hp, Wp) buffer whose borders are zeroed once per call. A 3x3 kernel then computes each
    output from registers (_taps3_s1): row by row straight into `out` when `rowwise` (wide
    images), else over the whole "wide" output at the padded pitch (P = (oh-1)*Wp + ow
    positions, so a 7x7 image is one 61-long vectorised loop, not seven of 7) and copied out.
    Other kernel sizes accumulate tap by tap over the wide output. `pad` holds Hp*Wp floats,
    `acc` P."""
    nb, ch, hgt, wid = x.shape
    kh, kw = w.shape[2], w.shape[3]
    oh, ow = out.shape[2], out.shape[3]
    hp, wp = oh - 1 + kh, ow - 1 + kw
    npos = (oh - 1) * wp + ow
    img = pad[:hp * wp].reshape(hp, wp)
    rows, cols = min(hgt, hp - pt), min(wid, wp - pl)
    img[:, :] = 0.0
    fast = kh == 3 and kw == 3
    starts = np.empty(kh * kw, np.int64)
    for i in range(kh):
        for j in range(kw):
            starts[i * kw + j] = i * wp + j
    for n in range(nb):
        for c in range(ch):
            for r in range(rows):
                _copy(x[n, c, r], img[pt + r, pl:], cols)
            if fast and rowwise:
                for oy in range(oh):
                    _taps3_s1(pad, oy * wp, wp, w[c, 0], b[c], lo, hi, out[n, c, oy], ow)
                continue
            if fast:
                _taps3_s1(pad, 0, wp, w[c, 0], b[c], lo, hi, acc, npos)
            else:
                _taps_any(pad, starts, w[c, 0], b[c], lo, hi, acc, npos)
            for oy in range(oh):
                _copy(acc[oy * wp:], out[n, c, oy], ow)


@numba.njit(cache=True, boundscheck=False, fastmath={"contract"})
def _same3_flat(src, ml, mr, wc, bias, lo, hi, dst, pitch, count):  # pragma: no cover
    """A whole image at once, 3x3 stride 1 "same": `src` holds the image at pitch `pitch`
    after pitch + 1 zeros (and as many after it), so output k reads src[k + i*pitch + j] for
    every tap; a tap left or right of the image lands on the row before or after, which the
    column masks `ml` (0 at column 0) and `mr` (0 at the last column) cancel."""
    w00, w01, w02 = wc[0, 0], wc[0, 1], wc[0, 2]
    w10, w11, w12 = wc[1, 0], wc[1, 1], wc[1, 2]
    w20, w21, w22 = wc[2, 0], wc[2, 1], wc[2, 2]
    a0 = src[:count + 2]  # 0-based views read at k + constant only: an index numba could
    a1 = src[pitch:pitch + count + 2]  # not prove >= 0 would be wrapped, and the loop
    a2 = src[2 * pitch:2 * pitch + count + 2]  # would gather
    for k in range(count):
        left = w00 * a0[k] + w10 * a1[k] + w20 * a2[k]
        right = w02 * a0[k + 2] + w12 * a1[k + 2] + w22 * a2[k + 2]
        s = bias + w01 * a0[k + 1] + w11 * a1[k + 1] + w21 * a2[k + 1]
        s += ml[k] * left + mr[k] * right
        dst[k] = min(max(s, lo), hi)


@numba.njit(cache=True, boundscheck=False)
def _column_mask(mask, period, zero_at, count):  # pragma: no cover - compiled
    """mask[k] = 0 where k % period == zero_at, else 1, for k < count."""
    mask[:count] = 1.0
    for k in range(zero_at, count, period):
        mask[k] = 0.0


@numba.njit(cache=True, boundscheck=False)
def depthwise3_same(x, w, b, out, lo, hi, buf, acc, direct):  # pragma: no cover - compiled
    """3x3, stride 1, pads 1 on every side (the output the size of the input): one vectorised
    loop over a whole channel writes `out` in place (_same3_flat), reading the image as if
    it were flat between pitch + 1 zeros. Small images are copied so, once per channel,
    contiguously: a 7x7 channel costs one 49-long loop. With `direct` (H >= 4), the outputs
    from row 1 column 1 to row H-2 column W-2 read the input itself, and only the first and
    the last 2W + 2 of its floats are copied, after and before the zeros: three loops, and
    no copy of the rest. `buf` holds max((H+2)*W + 2, 6W + 6) floats, `acc` 2*H*W (the
    column masks)."""
    nb, ch, hgt, wid = x.shape
    npos = hgt * wid
    edge = 2 * wid + 2
    buf[:max(npos + edge, 2 * (wid + 1 + edge))] = 0.0
    src = buf[:npos + edge]
    top, bottom = buf[:wid + 1 + edge], buf[wid + 1 + edge:2 * (wid + 1 + edge)]
    ml, mr = acc[:npos], acc[npos:2 * npos]
    _column_mask(ml, wid, 0, npos)
    _column_mask(mr, wid, wid - 1, npos)
    xf, of = x.reshape(nb * ch * npos), out.reshape(nb * ch * npos)  # one reshape per call:
    first, last = wid + 1, npos - wid - 1  # numba's costs more than a 7x7 channel
    for n in range(nb):
        for c in range(ch):
            at = (n * ch + c) * npos
            if not direct:
                _copy(xf[at:], src[wid + 1:], npos)
                _same3_flat(src, ml, mr, w[c, 0], b[c], lo, hi, of[at:], wid, npos)
                continue
            _copy(xf[at:], top[wid + 1:], edge)
            _copy(xf[at + npos - edge:], bottom, edge)
            _same3_flat(top, ml, mr, w[c, 0], b[c], lo, hi, of[at:], wid, first)
            _same3_flat(xf[at:], ml[first:], mr[first:], w[c, 0], b[c], lo, hi,
                        of[at + first:], wid, last - first)
            _same3_flat(bottom, ml[last:], mr[last:], w[c, 0], b[c], lo, hi, of[at + last:],
                        wid, npos - last)


@numba.njit(cache=True, boundscheck=False, fastmath={"contract"})
def _same3_s2_flat(ev, od, ml, wc, bias, lo, hi, dst, ow, count):  # pragma: no cover
    """A whole image, 3x3 stride 2 "same", over its "wide" output (pitch 2*ow, the second
    half of each pitch discarded): `ev` and `od` hold the even and the odd columns of the
    input rows at pitch ow after a zero row, `od` one element later, so output k reads
    ev[k + i*ow] and od[k + i*ow + (0, 1)] for tap row i; the left taps of column 0 fall on
    the row before, which `ml` (0 there) cancels."""
    w00, w01, w02 = wc[0, 0], wc[0, 1], wc[0, 2]
    w10, w11, w12 = wc[1, 0], wc[1, 1], wc[1, 2]
    w20, w21, w22 = wc[2, 0], wc[2, 1], wc[2, 2]
    e0, e1, e2 = ev[:count], ev[ow:ow + count], ev[2 * ow:2 * ow + count]
    o0, o1, o2 = od[:count + 1], od[ow:ow + count + 1], od[2 * ow:2 * ow + count + 1]
    for k in range(count):
        left = w00 * o0[k] + w10 * o1[k] + w20 * o2[k]
        s = (bias + w01 * e0[k] + w02 * o0[k + 1] + w11 * e1[k] + w12 * o1[k + 1]
             + w21 * e2[k] + w22 * o2[k + 1])
        s += ml[k] * left
        dst[k] = min(max(s, lo), hi)


@numba.njit(cache=True, boundscheck=False)
def _deinterleave(src, even, odd, pairs):  # pragma: no cover - compiled
    """even[t], odd[t] = src[2t], src[2t + 1]: wide loads and shuffles once vectorised."""
    s = src[:2 * pairs]
    e = even[:pairs]
    o = odd[:pairs]
    for t in range(pairs):
        e[t] = s[2 * t]
        o[t] = s[2 * t + 1]


@numba.njit(cache=True, boundscheck=False)
def depthwise3_same_s2(x, w, b, out, lo, hi, buf, acc):  # pragma: no cover - compiled
    """3x3, stride 2, pads 1 on every side, even H and W (the output (H/2, W/2)): each
    channel split once, as one flat array, into its even and odd columns (a row of W has
    W/2 of each, so the split rows stay rows, at pitch W/2, even and odd input rows
    alternating), after a zero row (the top padding; the bottom and right padding are never
    read). Output row oy reads split rows 2oy-1, 2oy, 2oy+1 at a constant offset, so one
    vectorised loop computes the whole wide output (pitch W, _same3_s2_flat), copied out row
    by row. `buf` holds 2*(H+1)*(W/2) + 1 floats, `acc` twice (H/2 - 1)*W + W/2."""
    nb, ch, hgt, wid = x.shape
    oh, ow = out.shape[2], out.shape[3]
    half = hgt * ow
    ev = buf[:ow + half]
    od = buf[ow + half:2 * (ow + half) + 1]  # one more zero first: od[p + 1] = odd p
    ev[:ow] = 0.0
    od[:ow + 1] = 0.0
    npos = (oh - 1) * 2 * ow + ow
    wide, ml = acc[:npos], acc[npos:2 * npos]
    _column_mask(ml, 2 * ow, 0, npos)
    xf = x.reshape(nb * ch * hgt * wid)  # one reshape per call: numba's is slow
    for n in range(nb):
        for c in range(ch):
            _deinterleave(xf[(n * ch + c) * hgt * wid:], ev[ow:], od[ow + 1:], half)
            _same3_s2_flat(ev, od, ml, w[c, 0], b[c], lo, hi, wide, ow, npos)
            for oy in range(oh):
                _copy(wide[2 * oy * ow:], out[n, c, oy], ow)


@numba.njit(cache=True, boundscheck=False)
def _split_row(src, even, odd, pl, qmax):  # pragma: no cover - compiled
    """Input row `src` (its first `qmax` columns) into the even and odd columns of its padded
    row (column q lands at q + pl): a leading odd column when pl is odd, then (even, odd)
    pairs in one vectorised loop (_deinterleave), then a trailing even column if one is left."""
    q = 0
    if pl % 2 == 1 and qmax > 0:
        odd[pl // 2] = src[0]
        q = 1
    d = (q + pl) // 2
    pairs = (qmax - q) // 2
    _deinterleave(src[q:], even[d:], odd[d:], pairs)
    q += 2 * pairs
    if q < qmax:
        even[(q + pl) // 2] = src[q]


@numba.njit(cache=True, boundscheck=False)
def depthwise_s2(x, w, b, out, pt, pl, lo, hi, phases, acc, rowwise):  # pragma: no cover - compiled
    """Stride 2: per channel the zero-padded image split into its four phases (row and
    column parity), each (Hq, Wq): each input row goes to one phase row pair, its even and its
    odd columns in one pass (_split_row), into planes whose borders are zeroed once per call.
    Tap (i, j) then reads phase (i % 2, j % 2) at a constant offset, so, as at stride 1, a 3x3
    kernel computes each output from registers (_taps3_s2), row by row into `out` when
    `rowwise`, else over the wide output (pitch Wq) and copied out; other kernel sizes
    accumulate tap by tap. `phases` holds 4*Hq*Wq floats, `acc` (oh-1)*Wq + ow."""
    nb, ch, hgt, wid = x.shape
    kh, kw = w.shape[2], w.shape[3]
    oh, ow = out.shape[2], out.shape[3]
    hq, wq = oh + (kh - 1) // 2, ow + (kw - 1) // 2
    size = hq * wq
    npos = (oh - 1) * wq + ow
    ph = phases[:4 * size].reshape(2, 2, hq, wq)
    ph[:, :, :, :] = 0.0
    rows = max(0, min(hgt, 2 * hq - pt))
    qmax = max(0, min(wid, 2 * wq - pl))
    fast = kh == 3 and kw == 3
    starts = np.empty(kh * kw, np.int64)
    for i in range(kh):
        for j in range(kw):
            starts[i * kw + j] = ((i % 2) * 2 + j % 2) * size + (i // 2) * wq + j // 2
    for n in range(nb):
        for c in range(ch):
            for r in range(rows):
                y = r + pt
                _split_row(x[n, c, r], ph[y % 2, 0, y // 2], ph[y % 2, 1, y // 2], pl, qmax)
            if fast and rowwise:
                for oy in range(oh):
                    _taps3_s2(phases, oy * wq, size, wq, w[c, 0], b[c], lo, hi, out[n, c, oy],
                              ow)
                continue
            if fast:
                _taps3_s2(phases, 0, size, wq, w[c, 0], b[c], lo, hi, acc, npos)
            else:
                _taps_any(phases, starts, w[c, 0], b[c], lo, hi, acc, npos)
            for oy in range(oh):
                _copy(acc[oy * wq:], out[n, c, oy], ow)


# Stride 2 in 16-output blocks: a row's loop runs a multiple of 16 times, so LLVM's vector
# loop leaves no scalar remainder; the last block writes up to 15 outputs past the row (into
# outputs computed later, or into a scratch copy for the last channel).
LANES = 16


@numba.njit(cache=True, boundscheck=False, fastmath={"contract"}, inline="always")
def _s2_row_blocks(r0, r1, r2, wc, bias, lo, hi, dst, nblk):  # pragma: no cover
    """Stride 2, pads 1, one output row of 16*nblk outputs: output t reads tap (i, 1) and
    (i, 2) at r_i[2t] and r_i[2t + 1] (each row view starts at its input row), tap (i, 0) at
    r_i[2t - 1], the previous output's (i, 2), carried over (zero, the padding, for t = 0):
    LLVM vectorises the pairs as two loads and a shuffle and the carry as a lane shift."""
    w00, w01, w02 = wc[0, 0], wc[0, 1], wc[0, 2]
    w10, w11, w12 = wc[1, 0], wc[1, 1], wc[1, 2]
    w20, w21, w22 = wc[2, 0], wc[2, 1], wc[2, 2]
    span = nblk * LANES
    a0, a1, a2 = r0[:2 * span], r1[:2 * span], r2[:2 * span]
    d = dst[:span]
    p0 = p1 = p2 = np.float32(0.0)
    for t in range(span):
        e0, o0 = a0[2 * t], a0[2 * t + 1]
        e1, o1 = a1[2 * t], a1[2 * t + 1]
        e2, o2 = a2[2 * t], a2[2 * t + 1]
        s = (bias + w00 * p0 + w01 * e0 + w02 * o0 + w10 * p1 + w11 * e1 + w12 * o1
             + w20 * p2 + w21 * e2 + w22 * o2)
        d[t] = min(max(s, lo), hi)
        p0, p1, p2 = o0, o1, o2


@numba.njit(cache=True, boundscheck=False)
def depthwise3_same_s2_blk(x, w, b, out, lo, hi, buf, obuf):  # pragma: no cover
    """3x3, stride 2, pads 1 on every side, even H and W: each output row as 16-output blocks
    (_s2_row_blocks) read from its input rows in place (no split into phases); output row 0
    reads a zero row above. Blocks past a row's end write into the rows after it, computed
    later, and read past it: a channel whose reads would leave the input (the last) is read
    from `buf` (the image, zeros after it), one whose writes would leave `out` writes `obuf`
    first. `buf` holds H*W + 4*16*nblk floats (the zero row last), `obuf` oh*ow + 16*nblk."""
    nb, ch, hgt, wid = x.shape
    oh, ow = out.shape[2], out.shape[3]
    npos, opos = hgt * wid, oh * ow
    nblk = (ow + LANES - 1) // LANES
    reach = 2 * nblk * LANES
    img = buf[:npos + reach]
    zero = buf[npos + reach:npos + 2 * reach]
    buf[:npos + 2 * reach] = 0.0
    xf, of = x.reshape(nb * ch * npos), out.reshape(nb * ch * opos)
    for n in range(nb):
        for c in range(ch):
            at, ot = (n * ch + c) * npos, (n * ch + c) * opos
            if at + (hgt - 1) * wid + reach <= xf.size:
                src = xf[at:]
            else:
                _copy(xf[at:], img, npos)
                src = img
            direct = ot + (oh - 1) * ow + reach // 2 <= of.size
            dst = of[ot:] if direct else obuf
            wc, bc = w[c, 0], b[c]
            _s2_row_blocks(zero, src, src[wid:], wc, bc, lo, hi, dst, nblk)
            for oy in range(1, oh):
                r = 2 * oy - 1
                _s2_row_blocks(src[r * wid:], src[(r + 1) * wid:], src[(r + 2) * wid:], wc, bc,
                               lo, hi, dst[oy * ow:], nblk)
            if not direct:
                _copy(obuf, of[ot:], opos)

# Row reductions. LLVM vectorises a floating-point sum only where it may reassociate it, so
# `_radd` is one add carrying "reassoc" (the loops around it keep FASTMATH: NaN,
# infinity and the exp's rounding order stay). The sums run in float32 lanes over blocks of
# columns, each lane adding about 8 terms (a plain sum runs 4 x 16 lanes, the exp's loop 16),
# and the block sums in float64. A row's max is an integer max over `_order_key`s, which order
# like the floats and vectorise without fast-math flags. Indices in the blocked loops are
# unsigned: Numba's wraparound select for a possibly negative index would make LLVM gather.
SUM_BLOCK = 512
EXP_SUM_BLOCK = 128


@intrinsic
def _radd(typingctx, s, x):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """s + x in s's float type (x converted to it) that LLVM may reassociate: a reduction over
    it vectorises."""
    if not isinstance(s, types.Float):
        return None
    sig = s(s, s)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.fadd(args[0], args[1], flags=("reassoc", "contract"))
    return sig, codegen


def _flip(builder, i):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """i ^ 0x7fffffff for negative i, else i: float bits <-> an int32 ordered like the float."""
    i32 = ir.IntType(32)
    sign = builder.ashr(i, ir.Constant(i32, 31))
    return builder.xor(i, builder.and_(sign, ir.Constant(i32, 0x7FFFFFFF)))


@intrinsic
def _order_key(typingctx, x):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """The int32 key of float32 x: keys compare as the floats do (-0 just below +0; NaN with
    its sign bit clear above +inf, with it set below -inf)."""
    sig = types.int32(types.float32)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return _flip(builder, builder.bitcast(args[0], ir.IntType(32)))
    return sig, codegen


@intrinsic
def _from_order_key(typingctx, k):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """The float32 whose `_order_key` is k."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(_flip(builder, args[0]), ir.FloatType())
    return sig, codegen


@numba.njit(inline="always")
def _same(x, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Whether `out` is `x` (the arena runs these ops in place). The loops are then compiled
    with one array for both: LLVM vectorises a loop over two arrays only after a run-time check
    that they do not overlap, and with the check failing (in place) runs its scalar copy."""
    return x.ctypes.data == out.ctypes.data and x.strides == out.strides


@numba.njit(cache=True, boundscheck=False, error_model="numpy", fastmath=FASTMATH)
def layer_norm(x, scale, bias, out, eps):  # pragma: no cover - compiled
    """Rows of x (R, C), two summing passes while the row is in L1, then one write: the mean as
    x0 + dm, x0 = x[0] and dm the mean of x - x0 (kept apart, so a row far from 0 keeps its
    resolution and a constant row gives exactly the bias), then the variance as the mean square
    of (x - x0) - dm. A row whose float32 sum of squares overflows (|x| past ~1e19) or that
    holds inf or NaN is summed again in float64 (inf or NaN then give a NaN row, as numpy)."""
    if _same(x, out):
        _layer_norm_rows(out, scale, bias, out, eps)
    else:
        _layer_norm_rows(x, scale, bias, out, eps)


@numba.njit(inline="always", boundscheck=False, error_model="numpy", fastmath=FASTMATH)
def _layer_norm_rows(x, scale, bias, out, eps):  # pragma: no cover - compiled
    rows, cols = x.shape
    for r in range(rows):
        xr = x[r]
        x0 = xr[0]
        s = 0.0
        for b in range(0, cols, SUM_BLOCK):
            t = np.float32(0.0)
            for j in range(b, min(b + SUM_BLOCK, cols)):
                t = _radd(t, xr[np.uint64(j)] - x0)  # unsigned: no wraparound select
            s += np.float64(t)
        dm = np.float32(s / cols)  # the mean is x0 + dm: no float32 rounding of the mean itself
        s2 = 0.0
        for b in range(0, cols, SUM_BLOCK):
            t = np.float32(0.0)
            for j in range(b, min(b + SUM_BLOCK, cols)):
                d = (xr[np.uint64(j)] - x0) - dm
                t = _radd(t, d * d)
            s2 += np.float64(t)
        if not np.isfinite(s2):  # float32 overflow (|x| past ~1e19), or inf or NaN in the row
            m64 = 0.0
            for j in range(cols):
                m64 = _radd(m64, np.float64(xr[j]))
            m64 /= cols
            s2 = 0.0
            for j in range(cols):
                d64 = np.float64(xr[j]) - m64
                s2 = _radd(s2, d64 * d64)
            x0, dm = np.float32(0.0), np.float32(m64)
        rstd = 1.0 / np.sqrt(s2 / cols + eps)
        a = np.float32(rstd)
        c = np.float32(dm * rstd)  # rounded by u |dm| / std, as x - x0 is
        o = out[r]
        for j in range(cols):
            o[j] = ((xr[j] - x0) * a - c) * scale[j] + bias[j]


@numba.njit(cache=True, boundscheck=False, error_model="numpy", fastmath=FASTMATH)
def softmax(x, out):  # pragma: no cover - compiled
    """Rows of x (R, C), each read from memory once: its max (an integer max over order keys),
    then e^(x - max) by the vectorised exp (kernels/vmath.py; x - max <= 0, or NaN) written to
    the output row and summed, then the output row scaled by 1/sum while it is still in L1.
    A NaN anywhere in a row makes its sum, so the whole row, NaN, as numpy's softmax does."""
    if _same(x, out):
        _softmax_rows(out, out)
    else:
        _softmax_rows(x, out)


@numba.njit(inline="always", boundscheck=False, error_model="numpy", fastmath=FASTMATH)
def _softmax_rows(x, out):  # pragma: no cover - compiled
    rows, cols = x.shape
    for r in range(rows):
        xr = x[r]
        o = out[r]
        k = np.int32(-2147483648)
        for j in range(cols):
            k = max(k, _order_key(xr[j]))
        m = _from_order_key(k)
        s = 0.0
        for b in range(0, cols, EXP_SUM_BLOCK):
            t = np.float32(0.0)
            for j in range(b, min(b + EXP_SUM_BLOCK, cols)):
                u = np.uint64(j)  # unsigned: no wraparound select, so contiguous vector access
                e = vexp_neg(xr[u] - m)
                o[u] = e
                t = _radd(t, e)
            s += np.float64(t)
        inv = np.float32(1.0 / s)
        for j in range(cols):
            o[j] *= inv


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
