"""Pooling and batch norm with channels innermost (layout nhwc or nchwc, ops/layouts.py).

  * pool_cl (mode max or avg, attributes as max_pool / avg_pool): one ufunc call per window tap
    over a strided view of the (padded) input, each over every channel at once (innermost,
    contiguous); avg divides by the same per-position counts as avg_pool (ops/pool.py);
  * global_avg_pool_cl: the mean over H and W, written as nchw [N, C, 1, 1] with the real
    channels only (attribute `channels`): the converted region ends here without a transpose;
  * batch_norm_cl: y = x s + t with s, t per channel broadcast along the innermost axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np

from mlxa.errors import ShapeError
from mlxa.ir.graph import TensorType
from mlxa.ops import memory
from mlxa.ops.bound import Step, sequence
from mlxa.ops.conv_cl import spatial_padder, tap_view
from mlxa.ops.layouts import channel_shape, check_layout, dims, shape_of, spatial_axes
from mlxa.ops.nn import bn_affine
from mlxa.ops.pool import _lowest, window_counts
from mlxa.ops.scratch import scratch, scratch_nbytes
from mlxa.ops.spatial import Window, pair, window
from mlxa.ops.table import Attrs, OpDef, register, same_dtype


def _window(shape: tuple[int, ...], attrs: Attrs) -> Window:
    layout, _ = check_layout(attrs)
    d = dims(shape, layout)
    kh, kw = pair(attrs, "kernel_shape", 0)
    return window(d.h, d.w, kh, kw, attrs, bool(attrs.get("ceil_mode", 0)))


def _pool_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    if len(ins) != 1 or attrs.get("mode") not in ("max", "avg"):
        raise ShapeError("pool_cl takes one input and mode max or avg")
    layout, block = check_layout(attrs)
    win = _window(ins[0].shape, attrs)
    d = dims(ins[0].shape, layout)._replace(h=win.out_h, w=win.out_w)
    return (TensorType(shape_of(d, layout, block), ins[0].dtype),)


def _pool_flops(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    kh, kw = pair(attrs, "kernel_shape", 0)
    return outs[0].size * (kh * kw + (attrs.get("mode") == "avg"))


def _padded_item(shape: tuple[int, ...], attrs: Attrs) -> list[tuple[int, ...]]:
    win = _window(shape, attrs)
    if not win.needs_padding:
        return []
    ha, wa = spatial_axes(check_layout(attrs)[0])
    return [tuple(win.padded_h if a == ha else win.padded_w if a == wa else s
                  for a, s in enumerate(shape[1:]))]


def _pool_workspace(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    return scratch_nbytes(_padded_item(ins[0].shape, attrs), ins[0].dtype)


def _bind_pool(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
               workspace: np.ndarray | None) -> Step:
    x, out = ins[0], outs[0]
    layout, block = check_layout(attrs)
    win, axes = _window(x.shape, attrs), spatial_axes(layout)
    is_max = attrs["mode"] == "max"
    ufunc, fill = (np.maximum, _lowest(x.dtype)) if is_max else (np.add, 0.0)
    bufs = scratch(_padded_item(x.shape, attrs), x.dtype, workspace)
    steps: list[Step] = []
    for n in range(x.shape[0]):
        src = x[n]
        if bufs:
            steps.append(spatial_padder(src, bufs[0], win, axes, fill))
            src = bufs[0]
        for k in range(win.kh * win.kw):
            view = tap_view(src, win, axes, k // win.kw, k % win.kw, 0, win.out_h)
            steps.append(partial(np.copyto, out[n], view) if k == 0
                         else partial(ufunc, out[n], view, out=out[n]))
    if not is_max:
        counts = window_counts(win, bool(attrs.get("count_include_pad", 0))).astype(x.dtype)
        counts = counts[:, :, None] if layout == "nhwc" else counts[None, :, :, None]
        steps.append(partial(np.divide, out, counts, out=out))
    return sequence(steps)


def _pool(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray] | None, attrs: Attrs,
          workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    (t,) = _pool_rule([TensorType.of(ins[0].shape, ins[0].dtype)], attrs)
    out = outs[0] if outs else memory.empty(t.shape, t.dtype)
    _bind_pool(ins, (out,), attrs, workspace)()
    return (out,)


# -- global average pool, batch norm ---------------------------------------------------------------

def _global_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    layout, _ = check_layout(attrs)
    if len(ins) != 1:
        raise ShapeError("global_avg_pool_cl takes one input")
    d = dims(ins[0].shape, layout)
    channels = int(attrs.get("channels", d.c))
    if not 0 < channels <= d.c:
        raise ShapeError(f"{channels} channels do not fit {list(ins[0].shape)}")
    return (TensorType((d.n, channels, 1, 1), ins[0].dtype),)


def _global(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray] | None, attrs: Attrs,
            workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    x = ins[0]
    layout, _ = check_layout(attrs)
    (t,) = _global_rule([TensorType.of(x.shape, x.dtype)], attrs)
    out = outs[0] if outs else memory.empty(t.shape, t.dtype)
    (means,) = scratch([_means_shape(x.shape, layout)], x.dtype, workspace)
    np.mean(x, axis=(1, 2) if layout == "nhwc" else (2, 3), out=means)
    np.copyto(out[:, :, 0, 0], means.reshape(x.shape[0], -1)[:, :t.shape[1]])
    return (out,)


def _means_shape(shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    return (shape[0], shape[3]) if layout == "nhwc" else (shape[0], shape[1], shape[4])


def _global_workspace(ins: Sequence[TensorType], outs: Sequence[TensorType],
                      attrs: Attrs) -> int:
    return scratch_nbytes([_means_shape(ins[0].shape, check_layout(attrs)[0])], ins[0].dtype)


def _bn_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    layout, _ = check_layout(attrs)
    d = dims(ins[0].shape, layout)
    if len(ins) != 5 or any(t.shape != (d.c,) for t in ins[1:]):
        raise ShapeError(f"batch_norm_cl takes x and four statistics of [{d.c}]")
    return (TensorType(ins[0].shape, same_dtype(ins)),)


def _bn(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray] | None, attrs: Attrs,
        workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    x = ins[0]
    layout, block = check_layout(attrs)
    c = ins[1].shape[0]
    s, t = scratch([(c,), (c,)], x.dtype, workspace)
    bn_affine(ins[1], ins[2], ins[3], ins[4], attrs.get("epsilon", 1e-5), s, t)
    out = outs[0] if outs else memory.empty(x.shape, x.dtype)
    np.multiply(x, s.reshape(channel_shape(layout, c, block)), out=out)
    out += t.reshape(channel_shape(layout, c, block))
    return (out,)


POOL_CL = register(OpDef("pool_cl", _pool_rule, _pool_flops, _pool, workspace=_pool_workspace,
                         bind=_bind_pool,
                         doc="max or avg pooling (mode) with channels innermost (nhwc, nchwc)"))
GLOBAL_AVG_POOL_CL = register(OpDef(
    "global_avg_pool_cl", _global_rule, lambda ins, outs, attrs: ins[0].size, _global,
    workspace=_global_workspace,
    doc="mean over H and W of a nhwc or nchwc tensor, written nchw [N, channels, 1, 1]"))
BATCH_NORM_CL = register(OpDef(
    "batch_norm_cl", _bn_rule, lambda ins, outs, attrs: 2 * outs[0].size, _bn, inplace=True,
    inplace_inputs=lambda attrs, n: (0,),
    workspace=lambda ins, outs, attrs: scratch_nbytes([(ins[1].shape[0],)] * 2, ins[0].dtype),
    doc="inference batch norm per channel of a nhwc or nchwc tensor"))
