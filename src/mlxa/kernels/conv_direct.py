"""A direct convolution for convs with few input channels (a network's stem: 1 or 3 channels at
3x3 or 7x7), where im2col makes a product with a tiny K and runs far below the roofline: every
tap of one output channel accumulated in registers over a run of output positions, the bias and
the relu/clip epilogue applied in the same store (loops in conv_direct_loops.py). Group 1,
dilation 1, strides 1 and 2, pads smaller than the kernel, float32, NCHW."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np

from mlxa.kernels.epilogue import clamp, takes_activation
from mlxa.kernels.generated import carve
from mlxa.kernels.registry import Attrs, Site, register_kernel
from mlxa.ops.bound import Step, sequence

F32 = np.dtype(np.float32)
MAX_CHANNELS = 3  # input channels: at 4 and more, im2col's product keeps up (and a 1x1 conv of
# 16 channels is a matrix product BLAS runs near its peak)
MAX_TAPS = 32  # C_in * kh * kw: 3 channels at 3x3, 1 at 5x5; more taps and im2col's product
# (or Winograd) is about as fast (benchmarks/conv_direct.py)
BLOCK_FLOATS = 4096  # source floats a block of output rows reads (16 KiB: stays in L1)
ROWWISE_MIN = 64  # outputs at least this wide are computed row by row straight into `out`;
# narrower ones as one "wide" run per block of rows (a 28-wide row is too short a loop)


def _loops():  # type: ignore[no-untyped-def]
    from mlxa.kernels import conv_direct_loops

    return conv_direct_loops


def direct_applies(site: Site) -> bool:
    """float32 NCHW conv of a shape `direct_takes`, constant weights; relu or clip (no extra
    input) or no epilogue."""
    if len(site.ins) < 2 or len(site.ins[0].shape) != 4 or len(site.ins[1].shape) != 4:
        return False
    x, w = site.ins[0], site.ins[1]
    if x.dtype != F32 or w.dtype != F32 or not site.params[1]:
        return False
    if not direct_takes(x.shape, w.shape, site.attrs):
        return False
    return site.epilogue is None or takes_activation(site)


def direct_takes(x: tuple[int, ...], w: tuple[int, ...], attrs: Attrs) -> bool:
    """Group 1, dilation 1, equal strides 1 or 2, pads each smaller than the kernel, C_in <=
    MAX_CHANNELS and C_in * kh * kw <= MAX_TAPS."""
    if int(attrs.get("group", 1)) != 1 or w[1] != x[1]:
        return False
    if tuple(attrs.get("dilations", (1, 1))) != (1, 1):
        return False
    if tuple(attrs.get("strides", (1, 1))) not in ((1, 1), (2, 2)):
        return False
    kh, kw = w[2], w[3]
    pt, pl, pb, pr = (int(p) for p in attrs.get("pads", (0, 0, 0, 0)))
    if min(pt, pl, pb, pr) < 0 or max(pt, pb) >= kh or max(pl, pr) >= kw:
        return False
    return x[1] <= MAX_CHANNELS and x[1] * kh * kw <= MAX_TAPS


def geometry(x: tuple[int, ...], w: tuple[int, ...], out: tuple[int, ...],
             stride: int) -> tuple[bool, int, int, int]:
    """(rowwise, buffer floats, pitch, output rows per block) of one conv. Outputs at least
    ROWWISE_MIN wide are computed row by row straight into `out`, the pitch rounded up to 16
    floats so that each tap at column offset 0 reads whole cache lines (the buffer is 64-byte
    aligned); narrower ones as runs over blocks of rows at the narrowest pitch (every column of
    it is computed), copied out."""
    ch, kh, kw = x[1], w[2], w[3]
    oh, ow = out[2], out[3]
    rowwise = ow >= ROWWISE_MIN
    pitch = ow + (kw - 1) // stride
    if rowwise:
        pitch = -(-pitch // 16) * 16
    rows = oh - 1 + kh if stride == 1 else oh + (kh - 1) // 2
    total = ch * stride * stride * rows * pitch
    rb = 1 if rowwise else max(1, min(oh, BLOCK_FLOATS // (ch * stride * stride * pitch)))
    return rowwise, total, pitch, rb


@register_kernel("conv", name="conv_direct", technique="numba", applies=direct_applies,
                 requires=("numba",))
def bind_direct(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
                workspace: np.ndarray | None) -> Step:
    """Direct conv + bias + ReLU/clip epilogue for few input channels: the input padded (stride
    2: split into its four phases) once per item, then per block of output rows and output
    channel every tap in registers, one store per output."""
    x, out = ins[0], outs[0]
    w = np.ascontiguousarray(ins[1])
    b = (np.ascontiguousarray(ins[2]) if len(ins) == 3
         else np.zeros(w.shape[0], np.float32))
    lo, hi = clamp(attrs)
    stride = int(attrs.get("strides", (1, 1))[0])
    pads = attrs.get("pads", (0, 0, 0, 0))
    rowwise, total, pitch, rb = geometry(x.shape, w.shape, out.shape, stride)
    loops = _loops()
    ob = loops.channels_per_pass(x.shape[1], w.shape[2], w.shape[3])
    buf, acc = carve(workspace, total, ob * rb * pitch)
    conv = loops.compiled(x.shape[1], w.shape[2], w.shape[3], stride)
    if not out.flags.c_contiguous:  # the loops store whole rows of a C-contiguous output
        tmp = np.empty(out.shape, np.float32)
        return sequence([partial(conv, x, w, b, tmp, int(pads[0]), int(pads[1]),
                                 np.float32(lo), np.float32(hi), buf, acc, rb, rowwise, pitch),
                         partial(np.copyto, out, tmp)])
    return partial(conv, x, w, b, out, int(pads[0]), int(pads[1]), np.float32(lo),
                   np.float32(hi), buf, acc, rb, rowwise, pitch)
