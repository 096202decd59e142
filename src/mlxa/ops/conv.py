"""2-D convolution, NCHW: conv(x[N,C,H,W], w[O,C/group,kh,kw], optional b[O]).

Attributes as ONNX Conv: strides, pads (top, left, bottom, right), dilations, group. One kernel
per case, all allocation-free given a workspace (per batch item, reused across the batch):
  * pointwise (1x1, stride 1, no padding, one group): one matrix product (conv_im2col.py);
  * depthwise (one input channel per group): window copies and a small product per channel
    (conv_depthwise.py);
  * general: im2col bands and a product per group (conv_im2col.py).
The padded input, when the windows reach outside the image, is the first scratch piece.
FLOPs are 2 per multiply-add, plus one add per output element for the bias.

Binding: a call is planned (kind, band or block size, scratch shapes) once per geometry, then
bound: every view it reads and writes made once, leaving a list of numpy calls. The compiled
executor binds each conv once through the op's `bind` hook, so an inference costs the numpy
calls only; eager execution binds and runs on every call.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlxa.errors import ShapeError
from mlxa.ir.graph import TensorType
from mlxa.ops import conv_depthwise, conv_im2col, conv_winograd, memory
from mlxa.ops.bound import Step, sequence
from mlxa.ops.scratch import scratch, scratch_nbytes
from mlxa.ops.spatial import Window, padder, window
from mlxa.ops.table import Attrs, OpDef, register, same_dtype

COL_BUFFER_NBYTES = 1 << 20  # im2col: a band's column buffer
CHANNEL_BLOCK_NBYTES = 1 << 19  # depthwise: a block's column buffer
WINOGRAD_NBYTES = 1 << 21  # winograd: a band's transforms and products
WINOGRAD = True  # 3x3 stride-1 convs by F(2x2, 3x3) (False: im2col)


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


@dataclass(frozen=True)
class ConvPlan:
    """How one conv geometry runs. `block`: output rows per im2col band, or channels per
    depthwise block. `scratch`: per batch item, the padded input first when `padded`."""

    kind: str
    win: Window
    group: int
    block: int
    padded: bool
    scratch: tuple[tuple[int, ...], ...]


def plan(x: tuple[int, ...], w: tuple[int, ...], attrs: Attrs, itemsize: int,
         contiguous: bool = True) -> ConvPlan:
    """The plan of a geometry, cached. `contiguous`: whether x is C-contiguous (a strided view
    cannot take the pointwise product in place, so it goes through im2col)."""
    key = tuple(sorted((k, tuple(v.tolist()) if isinstance(v, np.ndarray)
                        else tuple(v) if isinstance(v, list) else v) for k, v in attrs.items()))
    args = (tuple(x), tuple(w), key, itemsize, contiguous, COL_BUFFER_NBYTES,
            CHANNEL_BLOCK_NBYTES, WINOGRAD_NBYTES if WINOGRAD else 0)
    try:
        return _plan(*args)
    except TypeError:  # an unhashable attribute value: plan without the cache
        return _plan.__wrapped__(*args)


@functools.lru_cache(maxsize=1024)
def _plan(x: tuple[int, ...], w: tuple[int, ...], attrs: Any, itemsize: int, contiguous: bool,
          col_nbytes: int, channel_nbytes: int, winograd_nbytes: int) -> ConvPlan:
    win = _geometry(x, w, dict(attrs))
    group = int(dict(attrs).get("group", 1))
    pad = [(1, x[1], win.padded_h, win.padded_w)] if win.needs_padding else []
    if winograd_nbytes and conv_winograd.applies(w, win, group):
        band = conv_winograd.band_tiles(w[1], w[0], win, winograd_nbytes, itemsize)
        shapes = conv_winograd.scratch_shapes(w[1], w[0], win, band)
        return ConvPlan("winograd", win, group, band, False, tuple(shapes))
    if w[1] == 1 and group > 1:
        block = conv_depthwise.channel_block(x[1], win, channel_nbytes, itemsize)
        shapes = conv_depthwise.scratch_shapes(x[1], w[0] // x[1], win, block)
        return ConvPlan("depthwise", win, group, block, bool(pad), tuple(pad + shapes))
    if ((w[2], w[3]) == (1, 1) and win.strides == (1, 1) and not win.needs_padding
            and group == 1 and contiguous):
        return ConvPlan("pointwise", win, group, 0, False, ())
    band = conv_im2col.band_rows(w, win, group, col_nbytes, itemsize)
    shapes = [conv_im2col.col_shape(w, win, group, band)]
    return ConvPlan("im2col", win, group, band, bool(pad), tuple(pad + shapes))


def _workspace(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    p = plan(ins[0].shape, ins[1].shape, attrs, ins[0].dtype.itemsize)
    return scratch_nbytes(p.scratch, ins[0].dtype)


def bind(ins: Sequence[np.ndarray], out: np.ndarray, attrs: Attrs,
         workspace: np.ndarray | None) -> Step:
    """One conv call, every view made: running it computes out from the inputs' current
    values. Scratch comes from `workspace` (or is allocated when it is None)."""
    x, w = ins[0], ins[1]
    p = plan(x.shape, w.shape, attrs, x.itemsize, x.flags.c_contiguous)
    bufs = scratch(p.scratch, x.dtype, workspace)
    padded = bufs.pop(0)[0] if p.padded else None
    bias = ins[2].reshape(-1, 1, 1) if len(ins) == 3 else None
    steps: list[Step] = []
    for n in range(x.shape[0]):
        src = x[n]
        if padded is not None:
            steps.append(padder(src, padded, p.win, 0.0))
            src = padded
        steps.append(_bind_item(p, src, w, bias, out[n], bufs))
    return steps[0] if len(steps) == 1 else sequence(steps)


def _bind_item(p: ConvPlan, src: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
               out: np.ndarray, bufs: list[np.ndarray]) -> Step:
    """One batch item; each path adds the bias (O, 1, 1) where it is cheapest."""
    if p.kind == "pointwise":
        return conv_im2col.bind_pointwise(src, w, bias, out)
    if p.kind == "depthwise":
        return conv_depthwise.bind(src, w, bias, out, bufs, p.win, p.block)
    if p.kind == "winograd":
        return conv_winograd.bind(src, conv_winograd.transformed_weights(w), bias, out, bufs,
                                  p.win, p.block)
    return conv_im2col.bind_im2col(src, w, bias, out, bufs[0], p.win, p.group, p.block)


def _conv(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray] | None, attrs: Attrs,
          workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    x, w = ins[0], ins[1]
    win = _geometry(x.shape, w.shape, attrs)
    out = outs[0] if outs else memory.empty((x.shape[0], w.shape[0], win.out_h, win.out_w),
                                            x.dtype)
    bind(ins, out, attrs, workspace)()
    return (out,)


CONV = register(OpDef("conv", _rule, _flops, _conv, workspace=_workspace,
                      bind=lambda ins, outs, attrs, ws: bind(ins, outs[0], attrs, ws),
                      doc="2-D convolution, NCHW, with groups, strides, pads and dilations"))
