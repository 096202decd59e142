"""Activation layouts of 4-D tensors and the `relayout` op that converts between them.

  * nchw:  [N, C, H, W], the IR's canonical layout (every other op of the table takes it);
  * nhwc:  [N, H, W, C], channels innermost ("channels_last");
  * nchwc: [N, C/c, H, W, c], channels in blocks of c innermost (oneDNN's nChw16c, ONNX
    Runtime's NCHWc). C is padded up to a multiple of c; the padded channels hold zeros where a
    conv or batch norm writes them (their weights, bias and scale are zero), and no op of a
    converted region mixes them into a real channel (a conv's weights for padded input channels
    are zero too). `relayout` to nchw drops them.

`relayout` attributes: src, dst (layout names), block (c, for nchwc), channels (the real C).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from mlxa.errors import ShapeError
from mlxa.ir.graph import TensorType
from mlxa.ops import memory
from mlxa.ops.table import Attrs, OpDef, register

LAYOUTS = ("nchw", "nhwc", "nchwc")


class Dims(NamedTuple):
    """Logical sizes of a 4-D activation (c: channels as stored, padded in nchwc)."""

    n: int
    c: int
    h: int
    w: int


def padded_channels(channels: int, block: int) -> int:
    return -(-channels // block) * block


def dims(shape: Sequence[int], layout: str) -> Dims:
    """The (N, C, H, W) of a tensor stored in `layout`."""
    if layout == "nchw" and len(shape) == 4:
        return Dims(*shape)
    if layout == "nhwc" and len(shape) == 4:
        return Dims(shape[0], shape[3], shape[1], shape[2])
    if layout == "nchwc" and len(shape) == 5:
        return Dims(shape[0], shape[1] * shape[4], shape[2], shape[3])
    raise ShapeError(f"a {layout} tensor cannot have shape {list(shape)}")


def shape_of(d: Dims, layout: str, block: int = 0) -> tuple[int, ...]:
    """The stored shape of logical dims `d` in `layout` (nchwc pads C to a multiple of block)."""
    if layout == "nchw":
        return (d.n, d.c, d.h, d.w)
    if layout == "nhwc":
        return (d.n, d.h, d.w, d.c)
    if layout == "nchwc" and block > 0:
        return (d.n, padded_channels(d.c, block) // block, d.h, d.w, block)
    raise ShapeError(f"unknown layout {layout!r} (block {block})")


def spatial_axes(layout: str) -> tuple[int, int]:
    """The H and W axes of one batch item (the leading N dropped)."""
    return (0, 1) if layout == "nhwc" else (1, 2)


def channel_shape(layout: str, c: int, block: int) -> tuple[int, ...]:
    """How a per-channel vector of length c (padded) broadcasts against one batch item."""
    return (c,) if layout == "nhwc" else (c // block, 1, 1, block)


def nchw_view(x: np.ndarray, layout: str) -> np.ndarray:
    """An [N, C, H, W]-ordered view of a nhwc array (nchwc cannot be viewed so: see relayout)."""
    return x.transpose(0, 3, 1, 2) if layout == "nhwc" else x


def check_layout(attrs: Attrs) -> tuple[str, int]:
    layout, block = str(attrs.get("layout", "")), int(attrs.get("block", 0))
    if layout not in ("nhwc", "nchwc") or (layout == "nchwc" and block < 1):
        raise ShapeError(f"layout={layout!r}, block={block}: expected nhwc, or nchwc with a "
                         "block of channels >= 1")
    return layout, block


# -- relayout -------------------------------------------------------------------------------------

def _relayout_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    src, dst, block = str(attrs["src"]), str(attrs["dst"]), int(attrs.get("block", 0))
    if len(ins) != 1 or src == dst or {src, dst} - set(LAYOUTS) or "nchw" not in (src, dst):
        raise ShapeError(f"relayout takes one tensor, from or to nchw ({src} -> {dst})")
    d = dims(ins[0].shape, src)
    channels = int(attrs.get("channels", d.c))
    if src == "nchwc" and not d.c - block < channels <= d.c:
        raise ShapeError(f"{channels} channels do not fit {list(ins[0].shape)}")
    return (TensorType(shape_of(d._replace(c=channels), dst, block), ins[0].dtype),)


def _relayout(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray] | None,
              attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = ins[0]
    src, dst, block = str(attrs["src"]), str(attrs["dst"]), int(attrs.get("block", 0))
    (t,) = _relayout_rule([TensorType.of(x.shape, x.dtype)], attrs)
    out = outs[0] if outs else memory.empty(t.shape, x.dtype)
    if "nchwc" in (src, dst):
        _blocked(x, out, src == "nchw", block)
    elif dst == "nhwc":
        np.copyto(out, x.transpose(0, 2, 3, 1))
    else:
        np.copyto(out, x.transpose(0, 3, 1, 2))
    return (out,)


def _blocked(x: np.ndarray, out: np.ndarray, to_blocked: bool, block: int) -> None:
    """nchw <-> nchwc: whole blocks by one strided copy, the last partial block by another;
    its padded channels are zeroed (to) or dropped (from)."""
    plain, packed = (x, out) if to_blocked else (out, x)
    n, c, h, w = plain.shape
    full, rest = divmod(c, block)
    view = packed.transpose(0, 1, 4, 2, 3)  # [N, C/c, c, H, W]
    pairs = [(view[:, :full], plain[:, :full * block].reshape(n, full, block, h, w))]
    if rest:
        pairs.append((view[:, full, :rest], plain[:, full * block:]))
        if to_blocked:
            view[:, full, rest:] = 0
    for blocked, flat in pairs:
        np.copyto(*((blocked, flat) if to_blocked else (flat, blocked)))


RELAYOUT = register(OpDef(
    "relayout", _relayout_rule, lambda ins, outs, attrs: 0, _relayout,
    doc="the same activation in another layout (nchw <-> nhwc, nchw <-> nchwc with channels "
        "padded to the block)"))
