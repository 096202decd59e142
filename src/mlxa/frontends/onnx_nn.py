"""ONNX converters for convolution, pooling, normalisation, softmax and reductions.

The IR's window ops are 2-D (NCHW); 1-D ONNX Conv and pools (NCL) are lifted to 2-D with a unit
height and squeezed back, so they need no kernels of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlxa.frontends.onnx_context import (
    Converter,
    ImportContext,
    OnnxNode,
    Operand,
    ints,
    registrar,
)

CONVERTERS: dict[str, Converter] = {}
converts = registrar(CONVERTERS)


def _window_attrs(ctx: ImportContext, node: OnnxNode, spatial: tuple[int, ...],
                  kernel: tuple[int, ...]) -> dict[str, Any]:
    n = len(spatial)
    strides = tuple(node.attr("strides") or (1,) * n)
    dilations = tuple(node.attr("dilations") or (1,) * n)
    auto_pad = node.attr("auto_pad", "NOTSET") or "NOTSET"
    if auto_pad == "NOTSET":
        pads = tuple(node.attr("pads") or (0,) * 2 * n)
    elif auto_pad == "VALID":
        pads = (0,) * 2 * n
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        total = [max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
                 for size, k, s, d in zip(spatial, kernel, strides, dilations)]
        small = [t // 2 for t in total]
        big = [t - t // 2 for t in total]
        pads = tuple(small + big) if auto_pad == "SAME_UPPER" else tuple(big + small)
    else:
        ctx.fail(f"unknown auto_pad {auto_pad!r}")
    return {"strides": strides, "pads": pads, "dilations": dilations}


def _lift(attrs: dict[str, Any]) -> dict[str, Any]:
    """1-D window attributes as 2-D ones over a height of 1."""
    lifted = dict(attrs)
    for key in ("strides", "dilations", "kernel_shape"):
        if key in attrs:
            lifted[key] = (1,) + tuple(attrs[key])
    begin, end = attrs["pads"]
    lifted["pads"] = (0, begin, 0, end)
    return lifted


def _windowed(ctx: ImportContext, ir_op: str, x: Operand, rest: list[Operand],
              attrs: dict[str, Any]) -> Operand:
    """ir_op on a 4-D x, or on a 3-D x lifted to 4-D (rest[0], a weight, lifted alike)."""
    rank = len(x.shape)
    if rank == 4:
        return ctx.op(ir_op, x, *rest, **attrs)
    if rank != 3:
        ctx.fail(f"only 1-D and 2-D windows are supported, got a rank-{rank} input")
    lifted = [ctx.op("unsqueeze", v, axes=(2,)) for v in [x] + rest[:1]] + rest[1:]
    y = ctx.op(ir_op, *lifted, **_lift(attrs))
    return ctx.op("squeeze", y, axes=(2,))


@converts("Conv")
def _conv(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    x, w, b = node.arg(0), node.arg(1), node.input(2)
    attrs = _window_attrs(ctx, node, tuple(x.shape[2:]), tuple(w.shape[2:]))
    attrs["group"] = int(node.attr("group", 1))
    return [_windowed(ctx, "conv", x, [w] + ([b] if b is not None else []), attrs)]


@converts("MaxPool", "AveragePool")
def _pool(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    x = node.arg(0)
    kernel = tuple(node.attr("kernel_shape") or ())
    attrs = _window_attrs(ctx, node, tuple(x.shape[2:]), kernel)
    attrs.update(kernel_shape=kernel, ceil_mode=int(node.attr("ceil_mode", 0)))
    if node.op_type == "AveragePool":
        attrs["count_include_pad"] = int(node.attr("count_include_pad", 0))
        return [_windowed(ctx, "avg_pool", x, [], attrs)]
    if node.attr("storage_order", 0):
        ctx.fail("storage_order=1 is not supported")
    return [_windowed(ctx, "max_pool", x, [], attrs)]


@converts("GlobalAveragePool")
def _global_avg_pool(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    return [ctx.op("global_avg_pool", node.arg(0))]


@converts("GlobalMaxPool")
def _global_max_pool(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    x = node.arg(0)
    return [ctx.op("reduce_max", x, axes=tuple(range(2, len(x.shape))), keepdims=1)]


@converts("BatchNormalization")
def _batch_norm(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    if node.attr("training_mode", 0):
        ctx.fail("training-mode BatchNormalization is not supported")
    return [ctx.op("batch_norm", *node.args(5), epsilon=node.attr("epsilon", 1e-5))]


@converts("LayerNormalization")
def _layer_norm(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    inputs = node.present()[:3]
    return [ctx.op("layer_norm", *inputs, axis=node.attr("axis", -1),
                   epsilon=node.attr("epsilon", 1e-5))]


@converts("Softmax", "LogSoftmax")
def _softmax(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    ir_op = "softmax" if node.op_type == "Softmax" else "log_softmax"
    return [ctx.op(ir_op, node.arg(0), axis=node.attr("axis", -1))]


def _reduce(ir_op: str) -> Converter:
    def convert(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
        x = node.arg(0)
        axes = ints(ctx.const(1, "axes")) if node.input(1) is not None else node.attr("axes")
        if not axes:
            if node.attr("noop_with_empty_axes", 0):
                return [x]
            axes = range(len(x.shape))
        return [ctx.op(ir_op, x, axes=tuple(axes), keepdims=int(node.attr("keepdims", 1)))]
    return convert


for _onnx, _ir in {"ReduceMean": "reduce_mean", "ReduceSum": "reduce_sum",
                   "ReduceMax": "reduce_max", "ReduceMin": "reduce_min"}.items():
    CONVERTERS[_onnx] = _reduce(_ir)


@converts("ArgMax")
def _argmax(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    if node.attr("select_last_index", 0):
        ctx.fail("select_last_index=1 is not supported")
    return [ctx.op("argmax", node.arg(0), axis=node.attr("axis", 0),
                   keepdims=int(node.attr("keepdims", 1)))]

