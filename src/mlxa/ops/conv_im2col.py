"""Convolution as matrix products, one batch item: pointwise (no copy) and im2col (banded).

  * pointwise (1x1, stride 1, no padding, one group, contiguous input): out = w @ x, one product;
  * im2col: the windows of a band of output rows are copied into a column buffer
    (group, C/group*kh*kw, rows*ow), then one product per group writes the band of the output.
    The band is as many rows as fit COL_BUFFER_NBYTES, so the buffer stays cache sized however
    large the image: whole, it would be kh*kw times the input.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from mlxa.ops.bound import Step, sequence
from mlxa.ops.spatial import Window, windows_view


def band_rows(w: tuple[int, ...], win: Window, group: int, budget_nbytes: int,
              itemsize: int) -> int:
    """Output rows per im2col band: as many as fit budget_nbytes, at least one."""
    row_nbytes = group * w[1] * w[2] * w[3] * win.out_w * itemsize
    return max(1, min(win.out_h, budget_nbytes // row_nbytes))


def col_shape(w: tuple[int, ...], win: Window, group: int, rows: int) -> tuple[int, ...]:
    return (group * w[1] * w[2] * w[3] * rows * win.out_w,)


def bind_pointwise(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
                   out: np.ndarray) -> Step:
    """x (C, H, W) C-contiguous, bias (O, 1, 1), out (O, H, W)."""
    x2 = np.reshape(x, (x.shape[0], -1), copy=False)
    o2 = np.reshape(out, (out.shape[0], -1), copy=False)
    w2 = np.reshape(w, (w.shape[0], -1), copy=False)
    product = partial(np.matmul, w2, x2, out=o2)
    if bias is None:
        return product
    return sequence([product, partial(np.add, out, bias, out=out)])


def bind_im2col(src: np.ndarray, w: np.ndarray, bias: np.ndarray | None, out: np.ndarray,
                col: np.ndarray, win: Window, group: int, band: int) -> Step:
    """out[O, rows, ow] = w[g] @ col[g] (+ bias) per group and band of rows, col[g] being the
    (C/g*kh*kw, rows*ow) windows of src (C, Hp, Wp)."""
    c, o = src.shape[0], w.shape[0]
    views = windows_view(src.reshape(group, c // group, *src.shape[1:]), win)
    wg = np.reshape(w, (group, o // group, -1), copy=False)
    out_g = np.reshape(out, (group, o // group, win.out_h, win.out_w), copy=False)
    steps: list[Step] = []
    for r0 in range(0, win.out_h, band):
        rows = min(band, win.out_h - r0)
        part = views[..., r0:r0 + rows, :]
        cols = col[:part.size].reshape(part.shape)
        dst = np.reshape(out_g[:, :, r0:r0 + rows], (group, o // group, rows * win.out_w),
                         copy=False)
        steps += [partial(np.copyto, cols, part),
                  partial(np.matmul, wg, cols.reshape(group, wg.shape[2], -1), out=dst)]
    if bias is not None:  # once over the contiguous output: a band's strided rows would take
        steps.append(partial(np.add, out, bias, out=out))  # numpy's buffered iteration
    return sequence(steps)
