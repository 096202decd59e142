"""Numba kernels where the op table's numpy composition misses: a depthwise conv with its bias
and ReLU6 (or ReLU) in the same loop, layer norm and softmax in one read of each row (fused
elementwise chains are kernels/chain.py's generated loops). Registered always; chosen only when
numba is installed (registry.CustomKernel.available); the loops live in jit_loops.py."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np

from mlxa.kernels.epilogue import clamp, takes_activation
from mlxa.kernels.generated import carve
from mlxa.kernels.registry import Attrs, Site, register_kernel
from mlxa.ops.bound import Step

F32 = np.dtype(np.float32)


def _loops():  # type: ignore[no-untyped-def]
    from mlxa.kernels import jit_loops

    return jit_loops


def depthwise_applies(site: Site) -> bool:
    x, w = site.ins[0], site.ins[1]
    if len(x.shape) != 4 or x.dtype != F32 or site.attrs.get("group", 1) != x.shape[1]:
        return False
    if w.shape[:2] != (x.shape[1], 1) or tuple(site.attrs.get("dilations", (1, 1))) != (1, 1):
        return False
    return site.epilogue is None or takes_activation(site)


@register_kernel("conv", name="depthwise_act", technique="numba", applies=depthwise_applies,
                 requires=("numba",))
def bind_depthwise(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
                   workspace: np.ndarray | None) -> Step:
    """Depthwise conv + bias + ReLU6/ReLU epilogue, one loop nest, no column buffer. 3x3 pads 1
    (MobileNet's) at stride 1, and at stride 2 on even sizes, in the "same" loops (no padded
    copy, one vectorised loop per channel; stride 2 with outputs S2_BLOCKS_MIN wide or more:
    one per output row, read in place); other pads at strides 1 and 2 over a padded copy
    (stride 2: split into its four phases); any other stride in the generic loop."""
    x, w, out = ins[0], ins[1], outs[0]
    b = ins[2] if len(ins) == 3 else np.zeros(w.shape[0], x.dtype)
    lo, hi = clamp(attrs)
    sh, sw = attrs.get("strides", (1, 1))
    pads = attrs.get("pads", (0, 0, 0, 0))
    hgt, wid = x.shape[2], x.shape[3]
    if _same3(x, w, out, (sh, sw), pads):
        buf, acc = carve(workspace, max(hgt + 2, 6) * wid + 6, 2 * hgt * wid)
        return partial(_loops().depthwise3_same, x, w, b, out, np.float32(lo), np.float32(hi),
                       buf, acc, bool(hgt >= 4 and wid >= DIRECT_MIN))
    if _same3_s2(x, w, out, (sh, sw), pads) and out.shape[3] >= S2_BLOCKS_MIN:
        span = -(-out.shape[3] // 16) * 16  # jit_loops.LANES outputs a block
        buf, obuf = carve(workspace, hgt * wid + 4 * span, out.shape[2] * out.shape[3] + span)
        return partial(_loops().depthwise3_same_s2_blk, x, w, b, out, np.float32(lo),
                       np.float32(hi), buf, obuf)
    if _same3_s2(x, w, out, (sh, sw), pads):
        oh, ow = out.shape[2], out.shape[3]
        npos = (oh - 1) * 2 * ow + ow
        buf, acc = carve(workspace, 2 * (hgt + 1) * ow + 1, 2 * npos)
        return partial(_loops().depthwise3_same_s2, x, w, b, out, np.float32(lo),
                       np.float32(hi), buf, acc)
    if (sh, sw) == (1, 1) and pads[0] < w.shape[2] and pads[1] < w.shape[3]:
        hp, wp = out.shape[2] - 1 + w.shape[2], out.shape[3] - 1 + w.shape[3]
        pad, acc = carve(workspace, hp * wp, (out.shape[2] - 1) * wp + out.shape[3])
        return partial(_loops().depthwise_s1, x, w, b, out, int(pads[0]), int(pads[1]),
                       np.float32(lo), np.float32(hi), pad, acc, _rowwise(out))
    if (sh, sw) == (2, 2) and pads[0] < w.shape[2] and pads[1] < w.shape[3]:
        hq, wq = out.shape[2] + (w.shape[2] - 1) // 2, out.shape[3] + (w.shape[3] - 1) // 2
        phases, acc = carve(workspace, 4 * hq * wq, (out.shape[2] - 1) * wq + out.shape[3])
        return partial(_loops().depthwise_s2, x, w, b, out, int(pads[0]), int(pads[1]),
                       np.float32(lo), np.float32(hi), phases, acc, _rowwise(out))
    return partial(_loops().depthwise, x, w, b, out, int(sh), int(sw), int(pads[0]),
                   int(pads[1]), np.float32(lo), np.float32(hi))


ROWWISE_MIN = 32
DIRECT_MIN = 32  # depthwise3_same reads images at least this wide in place
S2_BLOCKS_MIN = 24  # stride-2 "same" outputs at least this wide: depthwise3_same_s2_blk


def _flat(*arrays: np.ndarray) -> bool:
    """The "same" loops view x and out as flat arrays."""
    return all(a.flags.c_contiguous for a in arrays)


def _same3(x: np.ndarray, w: np.ndarray, out: np.ndarray, strides: tuple[int, int],
           pads: Sequence[int]) -> bool:
    """3x3, stride 1, pads 1 all round: MobileNet's depthwise conv, in depthwise3_same."""
    return (w.shape[2:] == (3, 3) and tuple(strides) == (1, 1) and _flat(x, out)
            and tuple(int(p) for p in pads) == (1, 1, 1, 1) and out.shape == x.shape)


def _same3_s2(x: np.ndarray, w: np.ndarray, out: np.ndarray, strides: tuple[int, int],
              pads: Sequence[int]) -> bool:
    """3x3, stride 2, pads 1 all round, even H and W: in depthwise3_same_s2."""
    hgt, wid = x.shape[2], x.shape[3]
    return (w.shape[2:] == (3, 3) and tuple(strides) == (2, 2) and _flat(x, out) and hgt % 2 == 0
            and wid % 2 == 0 and tuple(int(p) for p in pads) == (1, 1, 1, 1)
            and out.shape[2:] == (hgt // 2, wid // 2))


def _rowwise(out: np.ndarray) -> bool:
    """Output rows at least ROWWISE_MIN wide are computed row by row straight into `out`;
    narrower ones over the whole "wide" output at once (see jit_loops.depthwise_s1)."""
    return bool(out.shape[3] >= ROWWISE_MIN)


def _last_axis(site: Site) -> bool:
    x = site.ins[0]
    axis = site.attrs.get("axis", -1)
    return x.dtype == F32 and len(x.shape) >= 1 and axis in (-1, len(x.shape) - 1)


def layer_norm_applies(site: Site) -> bool:
    cols = site.ins[0].shape[-1] if site.ins[0].shape else 0
    return (_last_axis(site) and site.epilogue is None
            and all(t.shape in ((cols,),) for t in site.ins[1:]))


@register_kernel("layer_norm", name="layer_norm_1pass", technique="numba",
                 applies=layer_norm_applies, requires=("numba",))
def bind_layer_norm(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
                    workspace: np.ndarray | None) -> Step:
    """Layer norm over the last axis: one read for both statistics, one write."""
    x = ins[0]
    cols = x.shape[-1]
    bias = ins[2] if len(ins) == 3 else np.zeros(cols, x.dtype)
    return partial(_loops().layer_norm, x.reshape(-1, cols), ins[1], bias,
                   outs[0].reshape(-1, cols), float(attrs.get("epsilon", 1e-5)))


@register_kernel("softmax", name="softmax_1pass", technique="numba",
                 applies=lambda s: _last_axis(s) and s.epilogue is None, requires=("numba",))
def bind_softmax(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
                 workspace: np.ndarray | None) -> Step:
    """Softmax over the last axis: each row read once, exponentials by a vectorised polynomial."""
    cols = ins[0].shape[-1]
    return partial(_loops().softmax, ins[0].reshape(-1, cols), outs[0].reshape(-1, cols))
