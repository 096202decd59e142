"""ATen reductions, pooling and layout ops -> the op table, for the PyTorch importer: the second
half of the converter table that torch_aten.py starts (same contract, same registry)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlxa.errors import UnsupportedOpError
from mlxa.frontends.torch_aten import (
    Args,
    Converter,
    Emitter,
    Operand,
    axis,
    converts,
    numpy_dtype,
    pair,
    shape_of,
)

# -- reductions and pooling -----------------------------------------------------------------------

def _reduce(op: str) -> Converter:
    def convert(imp: Emitter, a: Args, out: Any) -> Operand:
        x = a["input"]
        dims = a.get("dim")
        axes = tuple(range(len(x.shape))) if dims is None or dims == [] \
            else tuple(sorted(axis(d, len(x.shape)) for d in np.atleast_1d(dims)))
        return imp.emit(op, x, axes=axes, keepdims=int(bool(a.get("keepdim", False))))
    return convert


converts("mean")(_reduce("reduce_mean"))
converts("sum")(_reduce("reduce_sum"))
converts("amax")(_reduce("reduce_max"))


def _pool_attrs(a: Args, count_include_pad: bool = False) -> dict[str, Any]:
    kernel = pair(a["kernel_size"])
    stride = pair(a["stride"]) if a["stride"] else kernel
    ph, pw = pair(a["padding"])
    return {"kernel_shape": kernel, "strides": stride, "pads": (ph, pw, ph, pw),
            "dilations": pair(a.get("dilation", 1)), "ceil_mode": int(bool(a["ceil_mode"])),
            "count_include_pad": int(count_include_pad)}


@converts("max_pool2d", "max_pool2d_with_indices")
def _max_pool(imp: Emitter, a: Args, out: Any) -> Any:
    y = imp.emit("max_pool", a["input"], **_pool_attrs(a))
    return (y, None) if isinstance(out, (tuple, list)) else y


@converts("avg_pool2d")
def _avg_pool(imp: Emitter, a: Args, out: Any) -> Operand:
    if a.get("divisor_override") is not None:
        raise UnsupportedOpError("avg_pool2d with divisor_override")
    return imp.emit("avg_pool", a["input"], **_pool_attrs(a, bool(a["count_include_pad"])))


@converts("adaptive_avg_pool2d", "_adaptive_avg_pool2d")
def _adaptive_avg_pool(imp: Emitter, a: Args, out: Any) -> Operand:
    x = a["input"]
    h, w = x.shape[-2:]
    oh, ow = pair(a["output_size"])
    if (oh, ow) == (1, 1):
        return imp.emit("global_avg_pool", x)
    if h % oh or w % ow:
        raise UnsupportedOpError(f"adaptive_avg_pool2d from {h}x{w} to {oh}x{ow} "
                                 "(not a whole window)")
    k = (h // oh, w // ow)
    return imp.emit("avg_pool", x, kernel_shape=k, strides=k, pads=(0, 0, 0, 0),
                    dilations=(1, 1), ceil_mode=0, count_include_pad=0)


# -- layout ---------------------------------------------------------------------------------------

@converts("view", "_unsafe_view", "reshape", "flatten", "unflatten", "view_copy")
def _reshape(imp: Emitter, a: Args, out: Any) -> Operand:
    shape = shape_of(out)
    x = a["input"]
    return x if tuple(x.shape) == shape else imp.emit("reshape", x, shape=shape)


@converts("permute")
def _permute(imp: Emitter, a: Args, out: Any) -> Operand:
    x = a["input"]
    return imp.emit("transpose", x, perm=tuple(axis(d, len(x.shape)) for d in a["dims"]))


@converts("transpose")
def _transpose(imp: Emitter, a: Args, out: Any) -> Operand:
    x = a["input"]
    perm = list(range(len(x.shape)))
    i, j = axis(a["dim0"], len(perm)), axis(a["dim1"], len(perm))
    perm[i], perm[j] = perm[j], perm[i]
    return x if i == j else imp.emit("transpose", x, perm=tuple(perm))


@converts("t")
def _t(imp: Emitter, a: Args, out: Any) -> Operand:
    x = a["input"]
    return x if len(x.shape) < 2 else imp.emit("transpose", x, perm=(1, 0))


@converts("cat", "concat")
def _cat(imp: Emitter, a: Args, out: Any) -> Operand:
    parts = [t for t in a["tensors"] if 0 not in t.shape or len(t.shape) != 1]
    if len(parts) == 1:
        return parts[0]
    return imp.emit("concat", *parts, axis=axis(a["dim"], len(parts[0].shape)))


@converts("split", "split_with_sizes")
def _split(imp: Emitter, a: Args, out: Any) -> tuple[Operand, ...]:
    x = a["input"]
    dim = axis(a["dim"], len(x.shape))
    sizes = a.get("split_sizes")
    if sizes is None:
        step = int(a["split_size"])
        sizes = [min(step, x.shape[dim] - s) for s in range(0, x.shape[dim], step)]
    if len(sizes) == 1:
        return (x,)
    return imp.emit_multi("split", x, axis=dim, sizes=tuple(int(s) for s in sizes))


@converts("slice")
def _slice(imp: Emitter, a: Args, out: Any) -> Operand:
    x = a["input"]
    dim = axis(a["dim"], len(x.shape))
    start, end, _ = slice(a["start"], a["end"], a["step"]).indices(x.shape[dim])
    if (start, end, a["step"]) == (0, x.shape[dim], 1):
        return x
    return imp.emit("slice", x, starts=(start,), ends=(end,), axes=(dim,), steps=(a["step"],))


@converts("select")
def _select(imp: Emitter, a: Args, out: Any) -> Operand:
    """x[..., i, ...] as a one-element slice and a squeeze (a 0-d index would not survive
    GraphBuilder.param, which makes arrays at least 1-d)."""
    x = a["input"]
    dim = axis(a["dim"], len(x.shape))
    i = axis(a["index"], x.shape[dim])
    part = imp.emit("slice", x, starts=(i,), ends=(i + 1,), axes=(dim,), steps=(1,))
    return imp.emit("squeeze", part, axes=(dim,))


@converts("embedding")
def _embedding(imp: Emitter, a: Args, out: Any) -> Operand:
    return imp.emit("gather", a["weight"], a["indices"], axis=0)


@converts("unsqueeze")
def _unsqueeze(imp: Emitter, a: Args, out: Any) -> Operand:
    return imp.emit("unsqueeze", a["input"], axes=(axis(a["dim"], len(a["input"].shape) + 1),))


@converts("squeeze")
def _squeeze(imp: Emitter, a: Args, out: Any) -> Operand:
    x = a["input"]
    dims = a.get("dim", None)
    dims = range(len(x.shape)) if dims is None else np.atleast_1d(dims)
    axes = tuple(sorted(d for d in (axis(int(d), len(x.shape)) for d in dims)
                        if x.shape[d] == 1))
    return imp.emit("squeeze", x, axes=axes) if axes else x


TORCH_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge",
                   "circular": "wrap"}


@converts("constant_pad_nd", "pad")
def _pad(imp: Emitter, a: Args, out: Any) -> Operand:
    """torch lists (begin, end) pairs from the last dim backwards; ONNX all begins, then ends."""
    x, pad, mode = a["input"], list(a["pad"]), a.get("mode", "constant")
    if mode not in TORCH_PAD_MODES:
        raise UnsupportedOpError(f"pad mode {mode!r}")
    rank = len(x.shape)
    begins, ends = [0] * rank, [0] * rank
    for k in range(len(pad) // 2):
        begins[rank - 1 - k], ends[rank - 1 - k] = pad[2 * k], pad[2 * k + 1]
    value = a.get("value")
    return imp.emit("pad", x, pads=tuple(begins + ends), mode=TORCH_PAD_MODES[mode],
                    value=0.0 if value is None else float(value))


@converts("clone", "contiguous", "alias", "detach", "lift_fresh_copy", "dropout")
def _identity(imp: Emitter, a: Args, out: Any) -> Operand:
    if a.get("train"):
        raise UnsupportedOpError("dropout in training mode")
    return a["input"]


@converts("_to_copy", "to")
def _to_copy(imp: Emitter, a: Args, out: Any) -> Operand:
    x, dtype = a["input"], _numpy_dtype_of(out)
    if np.dtype(x.dtype) == dtype:
        return x
    if dtype.kind not in "biuf":
        raise UnsupportedOpError(f"dtype conversion from {x.dtype} to {dtype}")
    return imp.emit("cast", x, to=dtype.name)


def _numpy_dtype_of(meta: Any) -> np.dtype:
    return numpy_dtype(meta.dtype)
