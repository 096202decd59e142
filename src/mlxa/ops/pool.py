"""Pooling, NCHW: max_pool, avg_pool (ONNX MaxPool / AveragePool attributes) and global_avg_pool.

The window kernels accumulate one kernel offset at a time over a strided view of the input
(padded into the workspace when the windows reach outside it), so they allocate nothing given
outputs and a workspace. avg_pool divides by a per-position count, computed once per geometry:
with count_include_pad the padding counts, without it only real input elements do.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from mlxa.errors import ShapeError
from mlxa.ir.graph import TensorType
from mlxa.ops import memory
from mlxa.ops.scratch import scratch, scratch_nbytes
from mlxa.ops.spatial import Window, pad_into, pair, window, windows_view
from mlxa.ops.table import Attrs, OpDef, register


def _geometry(x: tuple[int, ...], attrs: Attrs) -> Window:
    if len(x) != 4:
        raise ShapeError(f"pooling takes x[N,C,H,W], got {list(x)}")
    kh, kw = pair(attrs, "kernel_shape", 0)
    return window(x[2], x[3], kh, kw, attrs, bool(attrs.get("ceil_mode", 0)))


def _rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    if len(ins) != 1:
        raise ShapeError("pooling takes one input")
    (x,) = ins
    win = _geometry(x.shape, attrs)
    return (TensorType(x.shape[:2] + (win.out_h, win.out_w), x.dtype),)


def _flops(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    kh, kw = pair(attrs, "kernel_shape", 0)
    return outs[0].size * kh * kw


def _workspace(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    x = ins[0].shape
    win = _geometry(x, attrs)
    shapes = [x[:2] + (win.padded_h, win.padded_w)] if win.needs_padding else []
    return scratch_nbytes(shapes, ins[0].dtype)


def _windows(x: np.ndarray, attrs: Attrs, fill: float,
             workspace: np.ndarray | None) -> tuple[Window, np.ndarray]:
    win = _geometry(x.shape, attrs)
    if not win.needs_padding:
        return win, windows_view(x, win)
    (buf,) = scratch([x.shape[:2] + (win.padded_h, win.padded_w)], x.dtype, workspace)
    return win, windows_view(pad_into(x, buf, win, fill), win)


def _accumulate(views: np.ndarray, out: np.ndarray, ufunc: np.ufunc) -> None:
    """out = ufunc-reduction of every kernel offset of views (N, C, kh, kw, oh, ow)."""
    np.copyto(out, views[:, :, 0, 0])
    for i in range(views.shape[2]):
        for k in range(views.shape[3]):
            if i or k:
                ufunc(out, views[:, :, i, k], out=out)


def _lowest(dtype: np.dtype) -> float:
    return float("-inf") if dtype.kind == "f" else int(np.iinfo(dtype).min)


def _out(x: np.ndarray, outs: Sequence[np.ndarray] | None, win: Window) -> np.ndarray:
    return outs[0] if outs else memory.empty(x.shape[:2] + (win.out_h, win.out_w), x.dtype)


def _max_pool(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray] | None, attrs: Attrs,
              workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    x = ins[0]
    win, views = _windows(x, attrs, _lowest(x.dtype), workspace)
    out = _out(x, outs, win)
    _accumulate(views, out, np.maximum)
    return (out,)


def _avg_pool(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray] | None, attrs: Attrs,
              workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    x = ins[0]
    win, views = _windows(x, attrs, 0.0, workspace)
    out = _out(x, outs, win)
    _accumulate(views, out, np.add)
    out /= _counts(win, bool(attrs.get("count_include_pad", 0)))
    return (out,)


@functools.lru_cache(maxsize=256)
def _counts(win: Window, include_pad: bool) -> np.ndarray:
    """How many elements each window averages, (oh, ow); read-only and cached."""
    rows = _axis_counts(win.h, win.kh, win.strides[0], win.dilations[0], win.pads[0],
                        win.pads[2], win.out_h, include_pad)
    cols = _axis_counts(win.w, win.kw, win.strides[1], win.dilations[1], win.pads[1],
                        win.pads[3], win.out_w, include_pad)
    counts = np.outer(rows, cols).astype(np.float32)
    counts.setflags(write=False)
    return counts


def _axis_counts(size: int, k: int, s: int, d: int, begin: int, end: int, out: int,
                 include_pad: bool) -> np.ndarray:
    lo, hi = (-begin, size + end) if include_pad else (0, size)
    taps = np.arange(out)[:, None] * s - begin + np.arange(k)[None, :] * d
    return np.maximum(((taps >= lo) & (taps < hi)).sum(axis=1), 1)


def _avg_flops(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    return _flops(ins, outs, attrs) + outs[0].size


def _global_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    if len(ins) != 1 or len(ins[0].shape) < 3:
        raise ShapeError("global_avg_pool takes one x[N,C,...]")
    x = ins[0]
    return (TensorType(x.shape[:2] + (1,) * (len(x.shape) - 2), x.dtype),)


def _global_avg_pool(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray] | None,
                     attrs: Attrs) -> tuple[np.ndarray, ...]:
    x = ins[0]
    out = outs[0] if outs else memory.empty(x.shape[:2] + (1,) * (x.ndim - 2), x.dtype)
    np.mean(x, axis=tuple(range(2, x.ndim)), keepdims=True, out=out)
    return (out,)


MAX_POOL = register(OpDef("max_pool", _rule, _flops, _max_pool, workspace=_workspace,
                          doc="max over each window (kernel_shape, strides, pads, dilations, "
                              "ceil_mode)"))
AVG_POOL = register(OpDef("avg_pool", _rule, _avg_flops, _avg_pool, workspace=_workspace,
                          doc="mean over each window; count_include_pad says whether padding "
                              "counts"))
GLOBAL_AVG_POOL = register(OpDef("global_avg_pool", _global_rule,
                                 lambda ins, outs, attrs: ins[0].size, _global_avg_pool,
                                 doc="mean over every spatial position, keeping [N,C,1,1]"))
