"""Depthwise convolution (one input channel per group, `m` outputs per channel), one batch item.

Per block of channels: copy the kh*kw shifted windows of each channel into a column buffer
(cb, kh*kw, P), then one batched product `w (cb, m, kh*kw) @ col -> (cb, m, P)`, which numpy
runs as one small matrix-vector product per channel. Two layouts of P:
  * wide (stride 1): P spans output rows at the padded row pitch Wp, so every window row is one
    contiguous run of the padded input and the copy is a plain block copy; the Wp - ow columns
    past each output row are garbage, dropped when the block is copied into the output.
  * direct (any stride): P = oh*ow, the copy gathers (oh, ow) strided windows straight into the
    layout of the output, and the product writes the output itself.
The column buffer holds at most COL_BUFFER_NBYTES (cache sized) whatever the layer's size.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from mlxa.ops.bound import Step, sequence
from mlxa.ops.spatial import Window, windows_view


def is_wide(win: Window) -> bool:
    """The wide layout pays when its extra columns are few: stride 1, Wp at most twice ow."""
    return win.strides == (1, 1) and win.padded_w <= 2 * win.out_w


def positions(win: Window, wide: bool) -> int:
    """Columns P of the product per channel."""
    return (win.out_h - 1) * win.padded_w + win.out_w if wide else win.out_h * win.out_w


def channel_block(channels: int, win: Window, budget_nbytes: int, itemsize: int) -> int:
    """Channels per block: a column buffer of about budget_nbytes, at least one channel."""
    per_channel = win.kh * win.kw * positions(win, is_wide(win)) * itemsize
    return max(1, min(channels, budget_nbytes // per_channel))


def scratch_shapes(channels: int, m: int, win: Window, block: int) -> list[tuple[int, ...]]:
    """The column buffer, and for the wide layout the product's rows at pitch Wp."""
    shapes: list[tuple[int, ...]] = [(block, win.kh * win.kw, positions(win, is_wide(win)))]
    if is_wide(win):
        shapes.append((block, m, win.out_h * win.padded_w))
    return shapes


def bind(src: np.ndarray, w: np.ndarray, bias: np.ndarray | None, out: np.ndarray,
         bufs: list[np.ndarray], win: Window, block: int) -> Step:
    """src (C, Hp, Wp) padded input, w (C*m, 1, kh, kw), bias (C*m, 1, 1), out (C*m, oh, ow).
    The bias is added to each block's product while it is in cache. An input whose
    rows are not at pitch Wp (a strided view) takes the direct layout, which fits the same
    column buffer (oh*ow <= P)."""
    c = src.shape[0]
    m = w.shape[0] // c
    wk = w.reshape(c, m, win.kh * win.kw)
    wide = is_wide(win) and src.strides[1:] == (src.shape[2] * src.itemsize, src.itemsize)
    k, p = win.kh * win.kw, positions(win, wide)
    steps: list[Step] = []
    for c0 in range(0, c, block):
        n = min(block, c - c0)
        col = bufs[0].reshape(-1)[:n * k * p].reshape(n, k, p)
        dst = out[c0 * m:(c0 + n) * m]
        if wide:
            view = _wide_view(src[c0:c0 + n], win)
            prod = bufs[1][:n, :, :p]
            rows = bufs[1][:n].reshape(n * m, win.out_h, win.padded_w)[:, :, :win.out_w]
        else:
            view = windows_view(src[c0:c0 + n], win)
            prod = np.reshape(dst, (n, m, -1), copy=False)
        steps += [partial(np.copyto, col.reshape(view.shape), view),
                  partial(np.matmul, wk[c0:c0 + n], col, out=prod)]
        if bias is not None:  # on the product the matmul wrote, while it is in cache (the
            # wide layout's last Wp - ow columns are never written: reading them would add to
            # uninitialised memory)
            steps.append(partial(np.add, prod, bias[c0 * m:(c0 + n) * m].reshape(n, m, 1),
                                 out=prod))
        if wide:
            steps.append(partial(np.copyto, dst, rows))
    return sequence(steps)


def _wide_view(src: np.ndarray, win: Window) -> np.ndarray:
    """(n, kh, kw, P): window (i, k) of a channel is the run of P elements starting at
    i*dh*Wp + k*dw of its padded image (rows contiguous at pitch Wp)."""
    cs, rs, es = src.strides
    return np.lib.stride_tricks.as_strided(
        src, (src.shape[0], win.kh, win.kw, positions(win, True)),
        (cs, rs * win.dilations[0], es * win.dilations[1], es), writeable=False)
