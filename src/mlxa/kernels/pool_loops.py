"""The Numba loops behind kernels/pool.py (imported only when one is bound: it needs numba).

Two loops: windows of 2x2 at stride 2 without padding (the classic CNN's pool), whose four
loads per output LLVM vectorises along the row with shuffles; and any other window, output by
output with the window clipped to the image (scalar, but one pass with no temporaries). A max
lets NaN win, as numpy's maximum does.
"""

from __future__ import annotations

import numba
import numpy as np

from mlxa.kernels.vmath import FASTMATH


@numba.njit(inline="always", error_model="numpy", fastmath=FASTMATH)
def _max(a, b):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """max(a, b), NaN when either is: selects, not `or` (a branch stops vectorisation)."""
    t = a if a > b else b
    t = a if a != a else t
    return b if b != b else t


@numba.njit(cache=True, boundscheck=False, error_model="numpy", fastmath=FASTMATH)
def pool2x2(x, out, is_max):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """2x2 windows at stride 2, no padding: max or mean of four."""
    nb, ch = x.shape[0], x.shape[1]
    oh, ow = out.shape[2], out.shape[3]
    for n in range(nb):
        for c in range(ch):
            p = x[n, c]
            o = out[n, c]
            for oy in range(oh):
                r0 = p[2 * oy]
                r1 = p[2 * oy + 1]
                d = o[oy]
                if is_max:
                    for ox in range(ow):
                        d[ox] = _max(_max(r0[2 * ox], r0[2 * ox + 1]),
                                     _max(r1[2 * ox], r1[2 * ox + 1]))
                else:
                    for ox in range(ow):
                        d[ox] = (r0[2 * ox] + r0[2 * ox + 1] + r1[2 * ox]
                                 + r1[2 * ox + 1]) * np.float32(0.25)


@numba.njit(cache=True, boundscheck=False, error_model="numpy", fastmath=FASTMATH)
def pool2d(x, out, kh, kw, sh, sw, pt, pl, is_max, counts):  # type: ignore[no-untyped-def]
    """out[n, c, oy, ox] = max (or mean) of x over the window at (oy*sh - pt, ox*sw - pl),
    kh x kw, clipped to the image; the mean divides by counts[oy, ox] (the op table's
    divisors, which say whether padding counts)."""  # pragma: no cover - compiled
    nb, ch, hgt, wid = x.shape
    oh, ow = out.shape[2], out.shape[3]
    for n in range(nb):
        for c in range(ch):
            p = x[n, c]
            o = out[n, c]
            for oy in range(oh):
                y0 = oy * sh - pt
                ya, yb = max(y0, 0), min(y0 + kh, hgt)
                for ox in range(ow):
                    x0 = ox * sw - pl
                    xa, xb = max(x0, 0), min(x0 + kw, wid)
                    m = np.float32(-np.inf) if is_max else np.float32(0.0)
                    for iy in range(ya, yb):
                        r = p[iy]
                        for ix in range(xa, xb):
                            m = _max(m, r[ix]) if is_max else m + r[ix]
                    o[oy, ox] = m if is_max else m / counts[oy, ox]
