"""2-D convolution, NCHW: conv(x[N,C,H,W], w[O,C/group,kh,kw], optional b[O]).

Attributes as ONNX Conv: strides, pads (top, left, bottom, right), dilations, group. Three kernels,
one per case, all allocation-free given a workspace (per batch item, reused across the batch):
  * pointwise (1x1, stride 1, no padding, one group): one matrix product per item, no copy;
  * depthwise (one input channel per group): a multiply-add per kernel offset, no im2col, over
    blocks of channels small enough (CHANNEL_BLOCK_NBYTES) that the sums stay in cache;
  * general: im2col (a strided copy into a column buffer) then a matrix product per group, a
    band of output rows at a time so the column buffer stays near COL_BUFFER_NBYTES (cache
    sized) however large the image: it would otherwise be kh*kw times the input.
FLOPs are 2 per multiply-add, plus one add per output element for the bias.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlxa.errors import ShapeError
from mlxa.ir.graph import TensorType
from mlxa.ops import memory
from mlxa.ops.scratch import scratch, scratch_nbytes
from mlxa.ops.spatial import Window, pad_into, window, windows_view
from mlxa.ops.table import Attrs, OpDef, register, same_dtype

COL_BUFFER_NBYTES = 1 << 20
CHANNEL_BLOCK_NBYTES = 1 << 18


def _geometry(x: tuple[int, ...], w: tuple[int, ...], attrs: Attrs) -> Window:
    if len(x) != 4 or len(w) != 4:
        raise ShapeError(f"conv takes x[N,C,H,W] and w[O,C/group,kh,kw], got {list(x)}, {list(w)}")
    group = int(attrs.get("group", 1))
    if group < 1 or x[1] % group or w[0] % group or w[1] * group != x[1]:
        raise ShapeError(f"group={group} does not fit {x[1]} input channels and weights "
                         f"{list(w)}")
    return window(x[2], x[3], w[2], w[3], attrs)


def _rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    if len(ins) not in (2, 3):
        raise ShapeError("conv takes x, w and an optional bias")
    x, w = ins[0].shape, ins[1].shape
    win = _geometry(x, w, attrs)
    if len(ins) == 3 and ins[2].shape != (w[0],):
        raise ShapeError(f"bias {ins[2]} should be [{w[0]}]")
    return (TensorType((x[0], w[0], win.out_h, win.out_w), same_dtype(ins)),)


def _flops(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    _, cg, kh, kw = ins[1].shape
    return 2 * outs[0].size * cg * kh * kw + (outs[0].size if len(ins) == 3 else 0)


def _kind(x: tuple[int, ...], w: tuple[int, ...], win: Window, group: int) -> str:
    if w[1] == 1 and group > 1:
        return "depthwise"
    if (w[2], w[3]) == (1, 1) and win.strides == (1, 1) and not win.needs_padding and group == 1:
        return "pointwise"
    return "im2col"


def _scratch_shapes(x: tuple[int, ...], w: tuple[int, ...],
                    attrs: Attrs) -> list[tuple[int, ...]]:
    """Per batch item: the padded input (if padded), then the column buffer or product temp."""
    win = _geometry(x, w, attrs)
    group = int(attrs.get("group", 1))
    kind = _kind(x, w, win, group)
    shapes: list[tuple[int, ...]] = ([(1, x[1], win.padded_h, win.padded_w)]
                                     if win.needs_padding else [])
    if kind == "im2col":
        shapes.append((group * w[1] * w[2] * w[3] * _band_rows(x, w, win, group) * win.out_w,))
    elif kind == "depthwise":
        shapes.append((_channel_block(x, w, win) * (w[0] // x[1]) * win.out_h * win.out_w,))
    return shapes


def _band_rows(x: tuple[int, ...], w: tuple[int, ...], win: Window, group: int,
               itemsize: int = 4) -> int:
    """Output rows per im2col band: as many as fit COL_BUFFER_NBYTES, at least one."""
    row_nbytes = group * w[1] * w[2] * w[3] * win.out_w * itemsize
    return max(1, min(win.out_h, COL_BUFFER_NBYTES // row_nbytes))


def _channel_block(x: tuple[int, ...], w: tuple[int, ...], win: Window,
                   itemsize: int = 4) -> int:
    """Input channels per depthwise block: outputs of about CHANNEL_BLOCK_NBYTES, at least one."""
    channel_nbytes = (w[0] // x[1]) * win.out_h * win.out_w * itemsize
    return max(1, min(x[1], CHANNEL_BLOCK_NBYTES // channel_nbytes))


def _workspace(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    return scratch_nbytes(_scratch_shapes(ins[0].shape, ins[1].shape, attrs), ins[0].dtype)


def _conv(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray] | None, attrs: Attrs,
          workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    x, w = ins[0], ins[1]
    win = _geometry(x.shape, w.shape, attrs)
    group = int(attrs.get("group", 1))
    out = outs[0] if outs else memory.empty((x.shape[0], w.shape[0], win.out_h, win.out_w),
                                            x.dtype)
    bufs = scratch(_scratch_shapes(x.shape, w.shape, attrs), x.dtype, workspace)
    padded = bufs.pop(0) if win.needs_padding else None
    kind = _kind(x.shape, w.shape, win, group)
    for n in range(x.shape[0]):
        xn = pad_into(x[n:n + 1], padded, win, 0.0)[0] if padded is not None else x[n]
        if kind == "pointwise":
            np.matmul(w.reshape(w.shape[0], -1), xn.reshape(xn.shape[0], -1),
                      out=out[n].reshape(w.shape[0], -1))
        elif kind == "depthwise":
            _depthwise(xn, w, win, out[n], bufs[0])
        else:
            _im2col(xn, w, win, group, out[n], bufs[0])
    if len(ins) == 3:
        out += ins[2].reshape(-1, 1, 1)
    return (out,)


def _im2col(xn: np.ndarray, w: np.ndarray, win: Window, group: int, out: np.ndarray,
            col: np.ndarray) -> None:
    """out[O, rows, ow] = w[g] @ col[g] per group and band of rows, col[g] being the
    (C/g*kh*kw, rows*ow) windows of xn."""
    c, o = xn.shape[0], w.shape[0]
    views = windows_view(xn.reshape(group, c // group, *xn.shape[1:]), win)
    wg = w.reshape(group, o // group, -1)
    out_g = out.reshape(group, o // group, win.out_h, win.out_w)
    band = col.size // (wg.shape[2] * group * win.out_w)
    for r0 in range(0, win.out_h, band):
        rows = min(band, win.out_h - r0)
        part = views[..., r0:r0 + rows, :]
        cols = col[:part.size].reshape(part.shape)
        np.copyto(cols, part)
        np.matmul(wg, cols.reshape(group, wg.shape[2], rows * win.out_w),
                  out=out_g[:, :, r0:r0 + rows].reshape(group, o // group, rows * win.out_w))


def _depthwise(xn: np.ndarray, w: np.ndarray, win: Window, out: np.ndarray,
               tmp: np.ndarray) -> None:
    """out[c*m+j] = sum over offsets of w[c*m+j, 0, i, k] * window(i, k) of channel c, a block
    of channels at a time."""
    c, o = xn.shape[0], w.shape[0]
    m = o // c
    views = windows_view(xn, win)  # (C, kh, kw, oh, ow)
    wk = w.reshape(c, m, win.kh, win.kw)
    acc = out.reshape(c, m, win.out_h, win.out_w)
    block = tmp.size // (m * win.out_h * win.out_w)
    for c0 in range(0, c, block):
        cs = slice(c0, min(c0 + block, c))
        a, v, wb = acc[cs], views[cs], wk[cs]
        prod = tmp[:a.size].reshape(a.shape)
        for i in range(win.kh):
            for k in range(win.kw):
                src, coef = v[:, None, i, k], wb[:, :, i, k, None, None]
                if i == 0 and k == 0:
                    np.multiply(src, coef, out=a)
                else:
                    np.multiply(src, coef, out=prod)
                    a += prod


CONV = register(OpDef("conv", _rule, _flops, _conv, workspace=_workspace,
                      doc="2-D convolution, NCHW, with groups, strides, pads and dilations"))
