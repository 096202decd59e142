"""Max and average pooling as one Numba loop nest (kernels/pool_loops.py) instead of the op
table's strided ufunc passes (a copy and a reduction per tap column and row, each a pass over
the data): NCHW float32, dilation 1, pads smaller than the window. Kept where its bind-time
trial finds it faster (kernels/trial.py): the 2x2 stride-2 loop is 3x the op table's on small
CNN maps; the general loop is scalar and loses on large ones (ResNet's 3x3 stride-2 pool)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np

from mlxa.kernels.registry import Attrs, Site, register_kernel
from mlxa.ops.bound import Step
from mlxa.ops.pool import geometry, window_counts

F32 = np.dtype(np.float32)


def pool_applies(site: Site) -> bool:
    x = site.ins[0]
    if len(x.shape) != 4 or x.dtype != F32 or site.epilogue is not None:
        return False
    kh, kw = site.attrs.get("kernel_shape", (1, 1))
    pads = tuple(site.attrs.get("pads", (0, 0, 0, 0)))
    return (tuple(site.attrs.get("dilations", (1, 1))) == (1, 1)
            and pads[0] < kh and pads[2] < kh and pads[1] < kw and pads[3] < kw)


def classic(x_shape: Sequence[int], out_shape: Sequence[int], attrs: Attrs) -> bool:
    """2x2 windows at stride 2 without padding, every output window whole inside the input
    (not a ceil_mode window past an odd edge)."""
    win = geometry(tuple(x_shape), attrs)
    return ((win.kh, win.kw, *win.strides, *win.pads) == (2, 2, 2, 2, 0, 0, 0, 0)
            and 2 * out_shape[-2] <= x_shape[-2] and 2 * out_shape[-1] <= x_shape[-1])


def _bind(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
          is_max: bool) -> Step:
    from mlxa.kernels import pool_loops

    x, out = ins[0], outs[0]
    win = geometry(x.shape, attrs)
    if classic(x.shape, out.shape, attrs):
        return partial(pool_loops.pool2x2, x, out, is_max)
    if is_max:
        counts = np.ones((1, 1), np.float32)
    else:
        counts = window_counts(win, bool(attrs.get("count_include_pad", 0))).astype(np.float32)
    return partial(pool_loops.pool2d, x, out, win.kh, win.kw, win.strides[0], win.strides[1],
                   win.pads[0], win.pads[1], is_max, counts)


@register_kernel("max_pool", name="max_pool_loop", technique="numba", applies=pool_applies,
                 requires=("numba",))
def bind_max_pool(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
                  workspace: np.ndarray | None) -> Step:
    """Max pooling, each window's rows reduced into an output row in one loop nest."""
    return _bind(ins, outs, attrs, True)


@register_kernel("avg_pool", name="avg_pool_loop", technique="numba", applies=pool_applies,
                 requires=("numba",))
def bind_avg_pool(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
                  workspace: np.ndarray | None) -> Step:
    """Average pooling, the op table's divisors (count_include_pad) applied at the store."""
    return _bind(ins, outs, attrs, False)
