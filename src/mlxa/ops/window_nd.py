"""Window ops over any number of spatial dims, ONNX semantics, for what the 2-D ops (conv.py,
pool.py) do not cover: conv_nd (3-D volumes), max_pool_nd and avg_pool_nd, and conv_transpose
(any rank, with output_padding). Attributes hold one value per spatial dim; pads are ONNX's
(every begin, then every end).

Each kernel loops over the kernel's offsets (k_1 * ... * k_n of them) and does one strided
tensor contraction (or max, or add) per offset over the whole batch: simple and exact, the
speed of numpy's einsum rather than a tuned path. The padded input (or, for conv_transpose, the
uncropped output) lives in scratch: no tensor allocation when bound.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from mlxa.errors import ShapeError
from mlxa.ir.graph import TensorType
from mlxa.ops import memory
from mlxa.ops.scratch import scratch, scratch_nbytes
from mlxa.ops.spatial import _out_size
from mlxa.ops.table import Attrs, OpDef, register, same_dtype

Arrays = Sequence[np.ndarray]


def _per_dim(attrs: Attrs, key: str, n: int, default: int) -> tuple[int, ...]:
    values = tuple(int(v) for v in (attrs.get(key) or (default,) * n))
    if len(values) != n:
        raise ShapeError(f"{key} {list(values)} should have {n} values")
    return values


def _geometry(spatial: tuple[int, ...], kernel: tuple[int, ...], attrs: Attrs,
              ceil: bool = False) -> tuple[tuple[int, ...], ...]:
    """(strides, dilations, begins, ends, output sizes) of a forward window op."""
    n = len(spatial)
    strides, dilations = _per_dim(attrs, "strides", n, 1), _per_dim(attrs, "dilations", n, 1)
    pads = _per_dim(attrs, "pads", 2 * n, 0)
    if min(strides + dilations + kernel, default=1) < 1 or min(pads, default=0) < 0:
        raise ShapeError(f"strides {strides}, dilations {dilations}, kernel {kernel} must be "
                         f"positive and pads {pads} non-negative")
    sizes = tuple(_out_size(size, k, s, b, e, d, ceil) for size, k, s, b, e, d in
                  zip(spatial, kernel, strides, pads[:n], pads[n:], dilations))
    return strides, dilations, pads[:n], pads[n:], sizes


def _padded_shape(x: tuple[int, ...], begins: Sequence[int], ends: Sequence[int],
                  reach: Sequence[int]) -> tuple[int, ...]:
    """x's shape padded, the end extended to `reach` when windows run past it (ceil_mode)."""
    return x[:2] + tuple(max(d + b + e, r) for d, b, e, r in zip(x[2:], begins, ends, reach))


def _reach(sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
           dilations: Sequence[int]) -> tuple[int, ...]:
    return tuple((o - 1) * s + (k - 1) * d + 1 for o, k, s, d in
                 zip(sizes, kernel, strides, dilations))


def _taps(kernel: Sequence[int], sizes: Sequence[int], strides: Sequence[int],
          dilations: Sequence[int]) -> list[tuple[tuple[int, ...], tuple[slice, ...]]]:
    """(kernel offset, the padded input's strided slice it reads) for every offset."""
    out = []
    for offset in itertools.product(*(range(k) for k in kernel)):
        out.append((offset, tuple(slice(i * d, i * d + (o - 1) * s + 1, s) for i, d, o, s in
                                  zip(offset, dilations, sizes, strides))))
    return out


def _fill_padded(x: np.ndarray, buf: np.ndarray, begins: Sequence[int], fill: float) -> None:
    buf.fill(fill)
    inner = tuple(slice(b, b + d) for b, d in zip(begins, x.shape[2:]))
    buf[(slice(None), slice(None)) + inner] = x


# -- conv_nd --------------------------------------------------------------------------------------

def _conv_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    x, w = ins[0].shape, ins[1].shape
    group = int(attrs.get("group", 1))
    if len(x) < 3 or len(w) != len(x) or group < 1 or x[1] != w[1] * group or w[0] % group:
        raise ShapeError(f"conv_nd: input {ins[0]} and weight {ins[1]} do not fit "
                         f"(group {group})")
    if len(ins) == 3 and ins[2].shape != (w[0],):
        raise ShapeError(f"conv_nd: bias {ins[2]} should be [{w[0]}]")
    *_, sizes = _geometry(x[2:], w[2:], attrs)
    return (TensorType((x[0], w[0]) + sizes, same_dtype(ins)),)


def _conv_scratch(x: tuple[int, ...], w: tuple[int, ...], attrs: Attrs) -> tuple[int, ...]:
    strides, dilations, begins, ends, sizes = _geometry(x[2:], w[2:], attrs)
    return _padded_shape(x, begins, ends, _reach(sizes, w[2:], strides, dilations))


def _conv_workspace(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    return scratch_nbytes([_conv_scratch(ins[0].shape, ins[1].shape, attrs)], ins[0].dtype)


def _conv_nd(ins: Arrays, outs: Arrays | None, attrs: Attrs,
             workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    x, w = ins[0], ins[1]
    g = int(attrs.get("group", 1))
    strides, dilations, begins, _, sizes = _geometry(x.shape[2:], w.shape[2:], attrs)
    (xp,) = scratch([_conv_scratch(x.shape, w.shape, attrs)], x.dtype, workspace)
    _fill_padded(x, xp, begins, 0.0)
    out = outs[0] if outs else memory.empty((x.shape[0], w.shape[0]) + sizes, x.dtype)
    n, o = x.shape[0], w.shape[0]
    xg = xp.reshape((n, g, x.shape[1] // g) + xp.shape[2:])
    wg = w.reshape((g, o // g) + w.shape[1:])
    og = out.reshape((n, g, o // g) + sizes)
    og.fill(0)
    for offset, window in _taps(w.shape[2:], sizes, strides, dilations):
        part = xg[(slice(None),) * 3 + window]
        og += np.einsum("ngc...,goc->ngo...", part, wg[(Ellipsis,) + offset])
    if len(ins) == 3:
        out += ins[2].reshape((1, o) + (1,) * len(sizes))
    return (out,)


def _conv_flops(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    per_output = math.prod(ins[1].shape[1:])
    return 2 * outs[0].size * per_output + (outs[0].size if len(ins) == 3 else 0)


# -- pools ----------------------------------------------------------------------------------------

def _pool_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    x = ins[0].shape
    kernel = _per_dim(attrs, "kernel_shape", len(x) - 2, 0)
    *_, sizes = _geometry(x[2:], kernel, attrs, bool(attrs.get("ceil_mode", 0)))
    return (TensorType(x[:2] + sizes, ins[0].dtype),)


def _pool_scratch(x: tuple[int, ...], attrs: Attrs) -> tuple[int, ...]:
    kernel = _per_dim(attrs, "kernel_shape", len(x) - 2, 0)
    strides, dilations, begins, ends, sizes = _geometry(x[2:], kernel, attrs,
                                                        bool(attrs.get("ceil_mode", 0)))
    return _padded_shape(x, begins, ends, _reach(sizes, kernel, strides, dilations))


def _pool_workspace(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    padded = _pool_scratch(ins[0].shape, attrs)
    return scratch_nbytes([padded, (1, 1) + padded[2:], (1, 1) + outs[0].shape[2:]],
                          ins[0].dtype)


def _pool(ins: Arrays, outs: Arrays | None, attrs: Attrs, workspace: np.ndarray | None,
          maximum: bool) -> np.ndarray:
    x = ins[0]
    kernel = _per_dim(attrs, "kernel_shape", x.ndim - 2, 0)
    strides, dilations, begins, ends, sizes = _geometry(x.shape[2:], kernel, attrs,
                                                        bool(attrs.get("ceil_mode", 0)))
    padded = _pool_scratch(x.shape, attrs)
    xp, counted, total = scratch([padded, (1, 1) + padded[2:], (1, 1) + sizes], x.dtype,
                                 workspace)
    lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    _fill_padded(x, xp, begins, lowest if maximum else 0.0)
    out = outs[0] if outs else memory.empty(x.shape[:2] + sizes, x.dtype)
    taps = _taps(kernel, sizes, strides, dilations)
    out[...] = xp[(slice(None), slice(None)) + taps[0][1]]
    for _, window in taps[1:]:
        (np.maximum if maximum else np.add)(out, xp[(slice(None), slice(None)) + window],
                                            out=out)
    if not maximum:
        _divide_by_counts(out, counted, total, x.shape[2:], begins, ends, taps, attrs)
    return out


def _divide_by_counts(out: np.ndarray, counted: np.ndarray, total: np.ndarray,
                      spatial: Sequence[int],
                      begins: Sequence[int], ends: Sequence[int], taps: list, attrs: Attrs
                      ) -> None:
    """out /= how many positions each window averages: the input's, plus the explicit pads
    with count_include_pad; the ceil_mode extension never counts."""
    counted.fill(0)
    include = bool(attrs.get("count_include_pad", 0))
    region = tuple(slice(0, b + d + e) if include else slice(b, b + d)
                   for b, d, e in zip(begins, spatial, ends))
    counted[(0, 0) + region] = 1
    total.fill(0)
    for _, window in taps:
        total += counted[(slice(None), slice(None)) + window]
    np.maximum(total, 1, out=total)
    out /= total


def _max_pool_nd(ins: Arrays, outs: Arrays | None, attrs: Attrs,
                 workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    return (_pool(ins, outs, attrs, workspace, True),)


def _avg_pool_nd(ins: Arrays, outs: Arrays | None, attrs: Attrs,
                 workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    return (_pool(ins, outs, attrs, workspace, False),)


def _pool_flops(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    return outs[0].size * math.prod(_per_dim(attrs, "kernel_shape", len(ins[0].shape) - 2, 0))


# -- conv_transpose -------------------------------------------------------------------------------

def _transpose_geometry(x: tuple[int, ...], w: tuple[int, ...], attrs: Attrs
                        ) -> tuple[tuple[int, ...], ...]:
    """(strides, dilations, begins, full sizes, output sizes): the full (uncropped) output is
    stride (in - 1) + dilation (k - 1) + 1 + output_padding per dim; pads crop it."""
    n = len(x) - 2
    strides, dilations = _per_dim(attrs, "strides", n, 1), _per_dim(attrs, "dilations", n, 1)
    pads, extra = _per_dim(attrs, "pads", 2 * n, 0), _per_dim(attrs, "output_padding", n, 0)
    full = tuple(s * (i - 1) + d * (k - 1) + 1 + p for i, k, s, d, p in
                 zip(x[2:], w[2:], strides, dilations, extra))
    sizes = tuple(f - b - e for f, b, e in zip(full, pads[:n], pads[n:]))
    if min(strides + dilations, default=1) < 1 or min(pads + extra, default=0) < 0 \
            or min(sizes, default=1) < 1:
        raise ShapeError(f"conv_transpose: strides {strides}, dilations {dilations}, pads "
                         f"{pads}, output_padding {extra} give output dims {list(sizes)}")
    return strides, dilations, pads[:n], full, sizes


def _ct_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    x, w = ins[0].shape, ins[1].shape
    g = int(attrs.get("group", 1))
    if len(x) < 3 or len(w) != len(x) or g < 1 or x[1] != w[0] or w[0] % g:
        raise ShapeError(f"conv_transpose: input {ins[0]} and weight {ins[1]} do not fit "
                         f"(group {g})")
    if len(ins) == 3 and ins[2].shape != (w[1] * g,):
        raise ShapeError(f"conv_transpose: bias {ins[2]} should be [{w[1] * g}]")
    *_, sizes = _transpose_geometry(x, w, attrs)
    return (TensorType((x[0], w[1] * g) + sizes, same_dtype(ins)),)


def _ct_workspace(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    x, w = ins[0].shape, ins[1].shape
    full = _transpose_geometry(x, w, attrs)[3]
    return scratch_nbytes([(x[0], outs[0].shape[1]) + full], ins[0].dtype)


def _conv_transpose(ins: Arrays, outs: Arrays | None, attrs: Attrs,
                    workspace: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Each input position scatters its weights into the full output: one strided add per
    kernel offset; then the pads are cropped off."""
    x, w = ins[0], ins[1]
    g = int(attrs.get("group", 1))
    strides, dilations, begins, full, sizes = _transpose_geometry(x.shape, w.shape, attrs)
    n, c, o = x.shape[0], x.shape[1], w.shape[1] * g
    (acc,) = scratch([(n, o) + full], x.dtype, workspace)
    acc.fill(0)
    xg = x.reshape((n, g, c // g) + x.shape[2:])
    wg = w.reshape((g, c // g) + w.shape[1:])
    ag = acc.reshape((n, g, o // g) + full)
    for offset, window in _taps(w.shape[2:], x.shape[2:], strides, dilations):
        ag[(slice(None),) * 3 + window] += np.einsum("ngc...,gco->ngo...", xg,
                                                     wg[(Ellipsis,) + offset])
    out = outs[0] if outs else memory.empty((n, o) + sizes, x.dtype)
    out[...] = acc[(slice(None), slice(None)) + tuple(slice(b, b + s) for b, s in
                                                      zip(begins, sizes))]
    if len(ins) == 3:
        out += ins[2].reshape((1, o) + (1,) * len(sizes))
    return (out,)


def _ct_flops(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    x, w = ins[0], ins[1]
    return 2 * x.size * math.prod(w.shape[1:]) + (outs[0].size if len(ins) == 3 else 0)


CONV_ND = register(OpDef("conv_nd", _conv_rule, _conv_flops, _conv_nd,
                         workspace=_conv_workspace,
                         doc="convolution over any number of spatial dims (3-D volumes), "
                             "groups, strides, pads, dilations"))
MAX_POOL_ND = register(OpDef("max_pool_nd", _pool_rule, _pool_flops, _max_pool_nd,
                             workspace=_pool_workspace,
                             doc="max over each window, any number of spatial dims"))
AVG_POOL_ND = register(OpDef("avg_pool_nd", _pool_rule, _pool_flops, _avg_pool_nd,
                             workspace=_pool_workspace,
                             doc="mean over each window, any number of spatial dims; "
                                 "count_include_pad says whether padding counts"))
CONV_TRANSPOSE = register(OpDef("conv_transpose", _ct_rule, _ct_flops, _conv_transpose,
                                workspace=_ct_workspace,
                                doc="transposed convolution (any rank): strides, pads, "
                                    "dilations, output_padding, groups"))
