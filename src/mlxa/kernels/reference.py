"""The float64 definition the conv kernels are checked against (tests, benchmarks): a grouped
2-D conv + bias + clamp, tap by tap over a zero-padded copy, one einsum per tap. Independent of
every kernel path it checks (no im2col, no Winograd, no Numba)."""

from __future__ import annotations

import numpy as np


def conv_reference(x: np.ndarray, w: np.ndarray, b: np.ndarray, strides: tuple[int, int],
                   pads: tuple[int, int, int, int], lo: float = -np.inf,
                   hi: float = np.inf) -> np.ndarray:
    """clamp(conv(x, w) + b, lo, hi) in float64: x [N, C, H, W], w [O, C / groups, kh, kw]
    (groups = C / w's input channels: 1 dense, C depthwise), pads (top, left, bottom, right)."""
    (sh, sw), (pt, pl, pb, pr) = strides, pads
    o, cg, kh, kw = w.shape
    groups = x.shape[1] // cg
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh, ow = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    xg = xp.reshape(x.shape[0], groups, cg, *xp.shape[2:])
    wg = w.astype(np.float64).reshape(groups, o // groups, cg, kh, kw)
    out = np.zeros((x.shape[0], groups, o // groups, oh, ow))
    for i in range(kh):
        for j in range(kw):
            tap = xg[..., i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
            out += np.einsum("goc,ngchw->ngohw", wg[:, :, :, i, j], tap)
    out = out.reshape(x.shape[0], o, oh, ow) + b.astype(np.float64)[None, :, None, None]
    return np.clip(out, lo, hi)
