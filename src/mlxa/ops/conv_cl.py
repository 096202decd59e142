"""2-D convolution with channels innermost: `conv_cl`, x in nhwc or nchwc (ops/layouts.py).

conv_cl(x, w[kh, kw, C/group, O] (HWIO), optional b[O]); attributes as `conv` (strides, pads,
dilations, group) plus layout and block. group is 1, or the channel count (depthwise, one output
per channel: w[kh, kw, 1, C]); other groupings stay in nchw. Per batch item:
  * pointwise (nhwc, 1x1, stride 1, no padding): x[N*H*W, C] @ w[C, O], one product, no copy;
  * im2col: a band of output rows' windows copied into a column buffer [rows*ow, kh*kw*C]
    (a plain strided copy, channels innermost on both sides), one product with w[K, O]; in
    nhwc the product writes the output band itself, in nchwc it lands in a buffer that is
    scattered into the blocks;
  * depthwise: for each of the kh*kw taps, a strided view of the padded input times the tap's
    weights (a vector over the channels, innermost and contiguous), accumulated per band.
The padded input is the first scratch piece when the windows reach outside the image.
FLOPs as `conv` (2 per multiply-add, the padded channels of nchwc included: they are computed).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from mlxa.errors import ShapeError
from mlxa.ir.graph import TensorType
from mlxa.ops import memory
from mlxa.ops.bound import Step, sequence
from mlxa.ops.layouts import Dims, channel_shape, check_layout, dims, shape_of, spatial_axes
from mlxa.ops.scratch import scratch, scratch_nbytes
from mlxa.ops.spatial import Window, window
from mlxa.ops.table import Attrs, OpDef, register, same_dtype

COL_BUFFER_NBYTES = 1 << 20  # as conv.py: an im2col band's column buffer
BAND_NBYTES = 1 << 18  # a depthwise band's accumulator


def geometry(x: tuple[int, ...], w: tuple[int, ...], attrs: Attrs) -> tuple[Dims, Window, bool]:
    """(input dims, window, depthwise) of a conv_cl, checked."""
    layout, _ = check_layout(attrs)
    d = dims(x, layout)
    group = int(attrs.get("group", 1))
    if len(w) != 4:
        raise ShapeError(f"conv_cl takes w[kh,kw,C/group,O], got {list(w)}")
    depthwise = group > 1
    if (depthwise and (group != d.c or w[2:] != (1, d.c))) or (not depthwise and w[2] != d.c):
        raise ShapeError(f"weights {list(w)} do not fit {d.c} channels (group={group}; "
                         "depthwise takes w[kh,kw,1,C])")
    return d, window(d.h, d.w, w[0], w[1], attrs), depthwise


def _rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    if len(ins) not in (2, 3):
        raise ShapeError("conv_cl takes x, w and an optional bias")
    layout, block = check_layout(attrs)
    d, win, _ = geometry(ins[0].shape, ins[1].shape, attrs)
    o = ins[1].shape[3]
    if layout == "nchwc" and o % block:
        raise ShapeError(f"{o} output channels are not a multiple of the block {block}")
    if len(ins) == 3 and ins[2].shape != (o,):
        raise ShapeError(f"bias {ins[2]} should be [{o}]")
    out = Dims(d.n, o, win.out_h, win.out_w)
    return (TensorType(shape_of(out, layout, block), same_dtype(ins)),)


def _flops(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    kh, kw, cg, _ = ins[1].shape
    return 2 * outs[0].size * cg * kh * kw + (outs[0].size if len(ins) == 3 else 0)


@dataclass(frozen=True)
class Plan:
    """kind: pointwise, im2col or depthwise; rows: output rows per band; scratch per item
    (the padded input first when `padded`)."""

    kind: str
    win: Window
    rows: int
    padded: bool
    scratch: tuple[tuple[int, ...], ...]


@functools.lru_cache(maxsize=1024)
def plan(x: tuple[int, ...], w: tuple[int, ...], layout: str, block: int, strides: tuple,
         pads: tuple, dilations: tuple, group: int, itemsize: int) -> Plan:
    attrs = {"layout": layout, "block": block, "strides": strides, "pads": pads,
             "dilations": dilations, "group": group}
    d, win, depthwise = geometry(x, w, attrs)
    item = shape_of(d, layout, block)[1:]
    ha, wa = spatial_axes(layout)
    padded_item = tuple(win.padded_h if a == ha else win.padded_w if a == wa else s
                        for a, s in enumerate(item))
    pad: list[tuple[int, ...]] = [padded_item] if win.needs_padding else []
    if depthwise:
        rows = max(1, min(win.out_h, BAND_NBYTES // (win.out_w * d.c * itemsize)))
        band: tuple[int, ...] = ((rows, win.out_w, d.c) if layout == "nhwc"
                                 else (d.c // block, rows, win.out_w, block))
        return Plan("depthwise", win, rows, bool(pad), tuple(pad + [band]))
    if (layout == "nhwc" and w[:2] == (1, 1) and win.strides == (1, 1)
            and not win.needs_padding):
        return Plan("pointwise", win, win.out_h, False, ())
    k = w[0] * w[1] * w[2]
    rows = max(1, min(win.out_h, COL_BUFFER_NBYTES // (win.out_w * k * itemsize)))
    shapes: list[tuple[int, ...]] = [(rows * win.out_w, k)]
    if layout == "nchwc":
        shapes.append((rows * win.out_w, w[3]))
    return Plan("im2col", win, rows, bool(pad), tuple(pad + shapes))


def _plan_of(x: tuple[int, ...], w: tuple[int, ...], attrs: Attrs, itemsize: int) -> Plan:
    layout, block = check_layout(attrs)
    return plan(tuple(x), tuple(w), layout, block, tuple(attrs.get("strides", (1, 1))),
                tuple(attrs.get("pads", (0, 0, 0, 0))), tuple(attrs.get("dilations", (1, 1))),
                int(attrs.get("group", 1)), itemsize)


def _workspace(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    p = _plan_of(ins[0].shape, ins[1].shape, attrs, ins[0].dtype.itemsize)
    return scratch_nbytes(p.scratch, ins[0].dtype)


def spatial_padder(x: np.ndarray, buf: np.ndarray, win: Window, axes: tuple[int, int],
                   fill: float) -> Step:
    """A call copying x into buf at (top, left) along `axes` and filling only the border."""
    ha, wa = axes
    top, left = win.pads[0], win.pads[1]

    def at(rows: slice, cols: slice) -> np.ndarray:
        index = [slice(None)] * buf.ndim
        index[ha], index[wa] = rows, cols
        return buf[tuple(index)]

    inner_rows, inner_cols = slice(top, top + win.h), slice(left, left + win.w)
    strips = [v for v in (at(slice(0, top), slice(None)), at(slice(top + win.h, None), slice(None)),
                          at(inner_rows, slice(0, left)), at(inner_rows, slice(left + win.w, None)))
              if v.size]
    interior = at(inner_rows, inner_cols)

    def run() -> None:
        for v in strips:
            v.fill(fill)
        np.copyto(interior, x)
    return run


def tap_view(xp: np.ndarray, win: Window, axes: tuple[int, int], i: int, j: int, r0: int,
             rows: int) -> np.ndarray:
    """Window tap (i, j) of output rows r0..r0+rows: a strided view of the padded item."""
    (sh, sw), (dh, dw) = win.strides, win.dilations
    index = [slice(None)] * xp.ndim
    start_h, start_w = r0 * sh + i * dh, j * dw
    index[axes[0]] = slice(start_h, start_h + sh * (rows - 1) + 1, sh)
    index[axes[1]] = slice(start_w, start_w + sw * (win.out_w - 1) + 1, sw)
    return xp[tuple(index)]


def bind(ins: Sequence[np.ndarray], out: np.ndarray, attrs: Attrs,
         workspace: np.ndarray | None) -> Step:
    x, w = ins[0], ins[1]
    layout, block = check_layout(attrs)
    p = _plan_of(x.shape, w.shape, attrs, x.itemsize)
    bufs = scratch(p.scratch, x.dtype, workspace)
    steps: list[Step] = []
    if p.kind == "pointwise":
        w2 = w.reshape(-1, w.shape[3])
        steps.append(partial(np.matmul, x.reshape(-1, x.shape[-1]), w2,
                             out=out.reshape(-1, out.shape[-1])))
    else:
        padded = bufs.pop(0) if p.padded else None
        for n in range(x.shape[0]):
            src = x[n]
            if padded is not None:
                steps.append(spatial_padder(src, padded, p.win, spatial_axes(layout), 0.0))
                src = padded
            item = _depthwise if p.kind == "depthwise" else _im2col
            steps += item(src, w, out[n], bufs, p, layout, block)
    if len(ins) == 3:
        steps.append(partial(np.add, out, ins[2].reshape(channel_shape(layout, w.shape[3],
                                                                        block)), out=out))
    return sequence(steps)


def _im2col(src: np.ndarray, w: np.ndarray, out: np.ndarray, bufs: list[np.ndarray], p: Plan,
            layout: str, block: int) -> list[Step]:
    win, o = p.win, w.shape[3]
    w2 = w.reshape(-1, o)
    steps: list[Step] = []
    for r0 in range(0, win.out_h, p.rows):
        rows = min(p.rows, win.out_h - r0)
        view = _windows(src, win, layout, r0, rows)
        col = bufs[0][:rows * win.out_w]
        steps.append(partial(np.copyto, col.reshape(view.shape), view))
        if layout == "nhwc":
            steps.append(partial(np.matmul, col, w2, out=out[r0:r0 + rows].reshape(-1, o)))
        else:
            prod = bufs[1][:rows * win.out_w]
            dst = out[:, r0:r0 + rows]  # [O/c, rows, ow, c]
            scatter = prod.reshape(rows, win.out_w, o // block, block).transpose(2, 0, 1, 3)
            steps += [partial(np.matmul, col, w2, out=prod), partial(np.copyto, dst, scatter)]
    return steps


def _windows(src: np.ndarray, win: Window, layout: str, r0: int, rows: int) -> np.ndarray:
    """[rows, ow, kh, kw, C] (nhwc) or [rows, ow, kh, kw, C/c, c] (nchwc) windows, a view."""
    (sh, sw), (dh, dw) = win.strides, win.dilations
    if layout == "nhwc":
        hs, ws, cs = src.strides
        base = src[r0 * sh:]
        shape: tuple[int, ...] = (rows, win.out_w, win.kh, win.kw, src.shape[2])
        strides: tuple[int, ...] = (hs * sh, ws * sw, hs * dh, ws * dw, cs)
    else:
        bs, hs, ws, cs = src.strides
        base = src[:, r0 * sh:]
        shape = (rows, win.out_w, win.kh, win.kw, src.shape[0], src.shape[3])
        strides = (hs * sh, ws * sw, hs * dh, ws * dw, bs, cs)
    return np.lib.stride_tricks.as_strided(base, shape, strides, writeable=False)


def _depthwise(src: np.ndarray, w: np.ndarray, out: np.ndarray, bufs: list[np.ndarray],
               p: Plan, layout: str, block: int) -> list[Step]:
    win, axes = p.win, spatial_axes(layout)
    taps = [w[i, j, 0].reshape(channel_shape(layout, w.shape[3], block))
            for i in range(win.kh) for j in range(win.kw)]
    steps: list[Step] = []
    for r0 in range(0, win.out_h, p.rows):
        rows = min(p.rows, win.out_h - r0)
        dst = out[r0:r0 + rows] if layout == "nhwc" else out[:, r0:r0 + rows]
        tmp = bufs[0][:rows] if layout == "nhwc" else bufs[0][:, :rows]
        for k, tap in enumerate(taps):
            view = tap_view(src, win, axes, k // win.kw, k % win.kw, r0, rows)
            if k == 0:
                steps.append(partial(np.multiply, view, tap, out=dst))
            else:
                steps += [partial(np.multiply, view, tap, out=tmp),
                          partial(np.add, dst, tmp, out=dst)]
    return steps


def _conv_cl(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray] | None, attrs: Attrs,
             workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    (t,) = _rule([TensorType.of(a.shape, a.dtype) for a in ins], attrs)
    out = outs[0] if outs else memory.empty(t.shape, t.dtype)
    bind(ins, out, attrs, workspace)()
    return (out,)


CONV_CL = register(OpDef("conv_cl", _rule, _flops, _conv_cl, workspace=_workspace,
                         bind=lambda ins, outs, attrs, ws: bind(ins, outs[0], attrs, ws),
                         doc="2-D convolution with channels innermost (layout nhwc or nchwc), "
                             "HWIO weights, group 1 or depthwise"))
