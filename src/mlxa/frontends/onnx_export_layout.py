"""ONNX export of the layout ops (ops/layouts.py, conv_cl.py, pool_cl.py): standard ONNX has no
nhwc or blocked conv, so each op is written as its nchw node between Transpose (and Reshape,
Pad, Slice for nchwc) nodes; ONNX Runtime folds the weights' transposes at load time."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlxa.frontends.onnx_export_ops import EXPORTERS, exports
from mlxa.ir.graph import TensorType
from mlxa.ops.layouts import dims
from mlxa.ops.table import Attrs


def _to_nchw(ex: Any, name: str, t: TensorType, layout: str, channels: int = 0) -> str:
    """name (in layout) as nchw; cut to `channels` when given."""
    d = dims(t.shape, layout)
    out = ex.fresh("nchw")
    if layout == "nhwc":
        ex.node("Transpose", [name], [out], perm=[0, 3, 1, 2])
    else:
        moved = ex.fresh("moved")
        ex.node("Transpose", [name], [moved], perm=[0, 1, 4, 2, 3])
        ex.node("Reshape", [moved, ex.const(list(d), np.int64)], [out])
    if channels and channels < d.c:
        cut = ex.fresh("cut")
        ex.node("Slice", [out, ex.const([0], np.int64), ex.const([channels], np.int64),
                          ex.const([1], np.int64)], [cut])
        return cut
    return out


def _from_nchw(ex: Any, name: str, c: int, out: str, t: TensorType, layout: str) -> None:
    """name (nchw, c channels) written to out (t, in layout), channels padded for nchwc."""
    if layout == "nhwc":
        ex.node("Transpose", [name], [out], perm=[0, 2, 3, 1])
        return
    n, cb, h, w, block = t.shape
    if cb * block > c:
        padded = ex.fresh("padded")
        ex.node("Pad", [name, ex.const([0, 0, 0, 0, 0, cb * block - c, 0, 0], np.int64)],
                [padded])
        name = padded
    split = ex.fresh("split")
    ex.node("Reshape", [name, ex.const([n, cb, block, h, w], np.int64)], [split])
    ex.node("Transpose", [split], [out], perm=[0, 1, 3, 4, 2])


@exports("conv_cl")
def _conv_cl(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
             attrs: Attrs) -> None:
    layout = str(attrs["layout"])
    x = _to_nchw(ex, ins[0], types[0], layout)
    w = ex.fresh("oihw")
    ex.node("Transpose", [ins[1]], [w], perm=[3, 2, 0, 1])
    kh, kw, cg, o = types[1].shape
    y = ex.fresh("conv")
    oihw = TensorType.of((o, cg, kh, kw), types[1].dtype)
    EXPORTERS["conv"](ex, [x, w, *ins[2:]], [types[0], oihw, *types[2:]], [y], attrs)
    _from_nchw(ex, y, o, outs[0], _out_type(types, attrs), layout)


def _out_type(types: list[TensorType], attrs: Attrs) -> TensorType:
    from mlxa.ops import infer_types

    return infer_types("conv_cl", types, attrs, "export")[0]


@exports("pool_cl", "batch_norm_cl")
def _per_layout(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
                attrs: Attrs) -> None:
    from mlxa.ops import infer_types

    layout = str(attrs["layout"])
    op = f"{attrs['mode']}_pool" if "mode" in attrs else "batch_norm"
    x = _to_nchw(ex, ins[0], types[0], layout)
    y = ex.fresh(op)
    EXPORTERS[op](ex, [x, *ins[1:]], types, [y], attrs)
    out_type = infer_types("pool_cl" if "mode" in attrs else "batch_norm_cl", types, attrs,
                           "export")[0]
    _from_nchw(ex, y, dims(out_type.shape, layout).c, outs[0], out_type, layout)


@exports("global_avg_pool_cl")
def _global(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
            attrs: Attrs) -> None:
    x = _to_nchw(ex, ins[0], types[0], str(attrs["layout"]))
    pooled = ex.fresh("pooled")
    ex.node("GlobalAveragePool", [x], [pooled])
    channels = int(attrs.get("channels", 0))
    ex.node("Slice", [pooled, ex.const([0], np.int64), ex.const([channels], np.int64),
                      ex.const([1], np.int64)], outs)


@exports("relayout")
def _relayout(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
              attrs: Attrs) -> None:
    from mlxa.ops import infer_types

    src, dst = str(attrs["src"]), str(attrs["dst"])
    if src == "nchw":
        out_type = infer_types("relayout", types, attrs, "export")[0]
        _from_nchw(ex, ins[0], types[0].shape[1], outs[0], out_type, dst)
        return
    y = _to_nchw(ex, ins[0], types[0], src, int(attrs.get("channels", 0)))
    ex.node("Identity", [y], outs)
