"""Pooling, NCHW: max_pool, avg_pool (ONNX MaxPool / AveragePool attributes) and global_avg_pool.

The window kernels reduce a window in two passes, as max and sum are separable: first along
rows, kw strided column views of the (padded) input into a (channels, rows, out_w) buffer, then
kh strided row views of that buffer into the output; kw + kh numpy calls instead of kh*kw, per
block of channels (the buffer about PART_NBYTES, each output block contiguous). The
input is padded into the workspace when the windows reach outside it; given outputs and a
workspace nothing is allocated, and the compiled executor binds the call (every view made) once
through the op's `bind` hook. avg_pool divides by a per-position count, computed once per
geometry: with count_include_pad the padding counts, without it only real input elements do.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from functools import partial

import numpy as np

from mlxa.errors import ShapeError
from mlxa.ir.graph import TensorType
from mlxa.ops import memory
from mlxa.ops.bound import Step, sequence
from mlxa.ops.scratch import scratch, scratch_nbytes
from mlxa.ops.spatial import Window, padder, pair, window
from mlxa.ops.table import Attrs, OpDef, register


def geometry(x: tuple[int, ...], attrs: Attrs) -> Window:
    if len(x) != 4:
        raise ShapeError(f"pooling takes x[N,C,H,W], got {list(x)}")
    kh, kw = pair(attrs, "kernel_shape", 0)
    return window(x[2], x[3], kh, kw, attrs, bool(attrs.get("ceil_mode", 0)))


def _rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    if len(ins) != 1:
        raise ShapeError("pooling takes one input")
    (x,) = ins
    win = geometry(x.shape, attrs)
    return (TensorType(x.shape[:2] + (win.out_h, win.out_w), x.dtype),)


def _flops(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    kh, kw = pair(attrs, "kernel_shape", 0)
    return outs[0].size * kh * kw


PART_NBYTES = 1 << 18  # the row pass's buffer, a block of channels at a time


def _part_shape(x: tuple[int, ...], win: Window, itemsize: int) -> tuple[int, int, int]:
    """(channels per block, rows read, out_w): the row pass's buffer, about PART_NBYTES."""
    rows = (win.out_h - 1) * win.strides[0] + (win.kh - 1) * win.dilations[0] + 1
    block = max(1, min(x[1], PART_NBYTES // (rows * win.out_w * itemsize)))
    return block, rows, win.out_w


def _scratch_shapes(x: tuple[int, ...], win: Window, itemsize: int) -> list[tuple[int, ...]]:
    """The padded input (when padded), then the row pass's buffer."""
    pad = [x[:2] + (win.padded_h, win.padded_w)] if win.needs_padding else []
    return pad + [_part_shape(x, win, itemsize)]


def _workspace(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    x = ins[0].shape
    itemsize = ins[0].dtype.itemsize
    return scratch_nbytes(_scratch_shapes(x, geometry(x, attrs), itemsize), ins[0].dtype)


def _bind(x: np.ndarray, out: np.ndarray, attrs: Attrs, workspace: np.ndarray | None,
          ufunc: np.ufunc, fill: float) -> Step:
    """out = ufunc-reduction over each window: columns first, then rows, per batch item and
    block of channels (so every output block written is contiguous)."""
    win = geometry(x.shape, attrs)
    bufs = scratch(_scratch_shapes(x.shape, win, x.itemsize), x.dtype, workspace)
    steps: list[Step] = []
    if win.needs_padding:
        steps.append(padder(x, bufs[0], win, fill))
        x = bufs[0]
    part = bufs[-1]
    (sh, sw), (dh, dw) = win.strides, win.dilations
    for n in range(x.shape[0]):
        for c0 in range(0, x.shape[1], part.shape[0]):
            src, dst = x[n, c0:c0 + part.shape[0]], out[n, c0:c0 + part.shape[0]]
            rows = part[:src.shape[0]]
            cols = [src[:, :rows.shape[1], k * dw:k * dw + sw * (win.out_w - 1) + 1:sw]
                    for k in range(win.kw)]
            taps = [rows[:, i * dh:i * dh + sh * (win.out_h - 1) + 1:sh] for i in range(win.kh)]
            for views, acc in ((cols, rows), (taps, dst)):
                steps.append(partial(np.copyto, acc, views[0]))
                steps += [partial(ufunc, acc, v, out=acc) for v in views[1:]]
    return sequence(steps)


def _lowest(dtype: np.dtype) -> float:
    return float("-inf") if dtype.kind == "f" else int(np.iinfo(dtype).min)


def _out(x: np.ndarray, outs: Sequence[np.ndarray] | None, attrs: Attrs) -> np.ndarray:
    if outs:
        return outs[0]
    win = geometry(x.shape, attrs)
    return memory.empty(x.shape[:2] + (win.out_h, win.out_w), x.dtype)


def _bind_max(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
              workspace: np.ndarray | None) -> Step:
    x = ins[0]
    return _bind(x, outs[0], attrs, workspace, np.maximum, _lowest(x.dtype))


def _bind_avg(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
              workspace: np.ndarray | None) -> Step:
    x, out = ins[0], outs[0]
    counts = window_counts(geometry(x.shape, attrs), bool(attrs.get("count_include_pad", 0)))
    return sequence([_bind(x, out, attrs, workspace, np.add, 0.0),
                     partial(np.divide, out, counts.astype(out.dtype, copy=False), out=out)])


def _max_pool(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray] | None, attrs: Attrs,
              workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    out = _out(ins[0], outs, attrs)
    _bind_max(ins, (out,), attrs, workspace)()
    return (out,)


def _avg_pool(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray] | None, attrs: Attrs,
              workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    out = _out(ins[0], outs, attrs)
    _bind_avg(ins, (out,), attrs, workspace)()
    return (out,)


@functools.lru_cache(maxsize=256)
def window_counts(win: Window, include_pad: bool) -> np.ndarray:
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


def _bind_global(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
                 workspace: np.ndarray | None) -> Step:
    """The mean as a matrix-vector product, x (N*C, positions) @ (1/positions, ...): one BLAS
    call. numpy's mean over trailing axes reduces each short row apart (MobileNetV2's 1280 rows
    of 49: 110 us against 5 us)."""
    x, out = ins[0], outs[0]
    if not (x.flags.c_contiguous and out.flags.c_contiguous and x.dtype.kind == "f"):
        return partial(_global_avg_pool, ins, outs, attrs)
    rows = x.shape[0] * x.shape[1]
    positions = x.size // rows if rows else 0
    weights = np.full(positions, 1.0 / max(positions, 1), x.dtype)
    return partial(np.matmul, x.reshape(rows, positions), weights, out=out.reshape(rows))


MAX_POOL = register(OpDef("max_pool", _rule, _flops, _max_pool, workspace=_workspace,
                          bind=_bind_max,
                          doc="max over each window (kernel_shape, strides, pads, dilations, "
                              "ceil_mode)"))
AVG_POOL = register(OpDef("avg_pool", _rule, _avg_flops, _avg_pool, workspace=_workspace,
                          bind=_bind_avg,
                          doc="mean over each window; count_include_pad says whether padding "
                              "counts"))
GLOBAL_AVG_POOL = register(OpDef("global_avg_pool", _global_rule,
                                 lambda ins, outs, attrs: ins[0].size, _global_avg_pool,
                                 bind=_bind_global,
                                 doc="mean over every spatial position, keeping [N,C,1,1]"))
