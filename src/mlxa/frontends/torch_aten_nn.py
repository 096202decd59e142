"""ATen 1-D windows and the normalisations of speech models -> the op table, for the PyTorch
importer (same contract and registry as torch_aten.py): conv1d (and `convolution` of a 3-D
weight), transposed and 3-D convolutions, adaptive_avg_pool1d, group_norm and _weight_norm.

The IR's windows are 2-D: a 1-D window runs as a 2-D one over a height of 1 (unsqueeze, op,
squeeze), as the ONNX importer does. group_norm is an instance_norm of the grouped view
(N, G, C/G * spatial) with unit scale, then the per-channel affine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlxa.errors import UnsupportedOpError
from mlxa.frontends.torch_aten import CONVERTERS, Args, Emitter, Operand, converts, shape_of

_conv_2d = CONVERTERS["aten.convolution"]


def _one(v: Any) -> int:
    return int(v if isinstance(v, int) else v[0])


def _conv1d_of(imp: Emitter, x: Operand, w: Operand, bias: Operand | None, a: Args) -> Operand:
    padding = a["padding"]
    k, d = w.shape[2], _one(a["dilation"])
    if isinstance(padding, str):  # 'valid' or 'same' (stride 1)
        padding = 0 if padding == "valid" else (k - 1) * d // 2
    p = _one(padding)
    ins = [imp.emit("unsqueeze", x, axes=(2,)), imp.emit("unsqueeze", w, axes=(2,))]
    y = imp.emit("conv", *ins, *([bias] if bias is not None else []),
                 strides=(1, _one(a["stride"])), pads=(0, p, 0, p), dilations=(1, d),
                 group=int(a["groups"]))
    return imp.emit("squeeze", y, axes=(2,))


@converts("conv1d")
def _conv1d(imp: Emitter, a: Args, out: Any) -> Operand:
    return _conv1d_of(imp, a["input"], a["weight"], a["bias"], a)


@converts("convolution")
def _convolution(imp: Emitter, a: Args, out: Any) -> Operand:
    """A transposed one is conv_transpose, a 5-D weight conv_nd, a 3-D weight a 1-D
    convolution; the rest goes to the 2-D converter."""
    if a.get("transposed") or len(a["weight"].shape) == 5:
        return _conv_any(imp, a, out)
    if len(a["weight"].shape) == 3:
        if any(_one(p) for p in np.atleast_1d(a.get("output_padding") or 0)):
            raise UnsupportedOpError("convolution with output_padding")
        return _conv1d_of(imp, a["input"], a["weight"], a["bias"], a)
    return _conv_2d(imp, a, out)


def _per_dim(v: Any, n: int) -> tuple[int, ...]:
    values = tuple(int(x) for x in np.atleast_1d(v))
    return values * n if len(values) == 1 else values


@converts("conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "conv3d")
def _conv_any(imp: Emitter, a: Args, out: Any) -> Operand:
    """conv_transpose (any rank) or conv_nd: torch's padding is symmetric per dim."""
    x, w, bias = a["input"], a["weight"], a.get("bias")
    n = len(w.shape) - 2
    if isinstance(a["padding"], str):
        raise UnsupportedOpError(f"padding={a['padding']!r} for a {n}-D convolution")
    pad = _per_dim(a["padding"], n)
    attrs = {"strides": _per_dim(a["stride"], n), "dilations": _per_dim(a["dilation"], n),
             "pads": pad + pad, "group": int(a["groups"])}
    ins = [x, w] + ([bias] if bias is not None else [])
    if a.get("transposed", "output_padding" in a):
        return imp.emit("conv_transpose", *ins, output_padding=_per_dim(
            a.get("output_padding") or 0, n), **attrs)
    return imp.emit("conv_nd", *ins, **attrs)


@converts("adaptive_avg_pool1d")
def _adaptive_avg_pool1d(imp: Emitter, a: Args, out: Any) -> Operand:
    x = a["input"]
    length, size = x.shape[-1], _one(a["output_size"])
    if size == 1:
        return imp.emit("reduce_mean", x, axes=(len(x.shape) - 1,), keepdims=1)
    if length % size:
        raise UnsupportedOpError(f"adaptive_avg_pool1d from {length} to {size} "
                                 "(not a whole window)")
    k = length // size
    y = imp.emit("avg_pool", imp.emit("unsqueeze", x, axes=(len(x.shape) - 1,)),
                 kernel_shape=(1, k), strides=(1, k), pads=(0, 0, 0, 0), dilations=(1, 1),
                 ceil_mode=0, count_include_pad=0)
    return imp.emit("squeeze", y, axes=(len(x.shape) - 1,))


@converts("group_norm", "native_group_norm")
def _group_norm(imp: Emitter, a: Args, out: Any) -> Any:
    x, groups = a["input"], int(a.get("num_groups") or a.get("group") or 1)
    shape = tuple(x.shape)
    dtype = np.dtype(x.dtype)
    grouped = imp.emit("reshape", x, shape=(shape[0], groups, -1))
    y = imp.emit("instance_norm", grouped, np.ones(groups, dtype), np.zeros(groups, dtype),
                 epsilon=float(a["eps"]))
    y = imp.emit("reshape", y, shape=shape)
    per_channel = (shape[1],) + (1,) * (len(shape) - 2)
    if a.get("weight") is not None:
        y = imp.emit("mul", y, _reshaped(imp, a["weight"], per_channel))
    if a.get("bias") is not None:
        y = imp.emit("add", y, _reshaped(imp, a["bias"], per_channel))
    return (y, None, None) if isinstance(out, (tuple, list)) else y


def _reshaped(imp: Emitter, v: Operand, shape: tuple[int, ...]) -> Operand:
    return v.reshape(shape) if isinstance(v, np.ndarray) else imp.emit("reshape", v, shape=shape)


@converts("_weight_norm", "_weight_norm_interface")
def _weight_norm(imp: Emitter, a: Args, out: Any) -> Any:
    """g * v / ||v||, the norm over every dim but `dim` (folded when v and g are parameters)."""
    v, g, dim = a["v"], a["g"], int(a.get("dim", 0))
    rank = len(v.shape)
    dim = dim + rank if dim < 0 else dim
    axes = tuple(k for k in range(rank) if k != dim)
    norm = imp.emit("sqrt", imp.emit("reduce_sum", imp.emit("mul", v, v), axes=axes,
                                     keepdims=1))
    w = imp.emit("mul", v, imp.emit("div", g, norm))
    if tuple(w.shape) != shape_of(out if not isinstance(out, (tuple, list)) else out[0]):
        raise UnsupportedOpError(f"_weight_norm of {list(v.shape)} by {list(g.shape)}")
    return (w, norm) if isinstance(out, (tuple, list)) else w
