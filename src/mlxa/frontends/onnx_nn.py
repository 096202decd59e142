"""ONNX converters for convolution, pooling, normalisation, softmax and reductions.

The IR's window ops are 2-D (NCHW); 1-D ONNX Conv and pools (NCL) are lifted to 2-D with a unit
height and squeezed back, so they need no kernels of their own. Attribute values are checked
against what the spec (or ONNX Runtime) allows before the IR sees them: strides and dilations at
least 1, pads non-negative (and smaller than a pool's kernel), Conv's kernel_shape equal to its
weight's, epsilons non-negative, flags 0 or 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlxa.frontends.onnx_context import (
    Converter,
    ImportContext,
    OnnxNode,
    Operand,
    choice,
    flag,
    ints,
    non_negative,
    registrar,
)

CONVERTERS: dict[str, Converter] = {}
converts = registrar(CONVERTERS)


AUTO_PADS = ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER")


def _ints_attr(ctx: ImportContext, node: OnnxNode, name: str, n: int, default: int,
               low: int) -> tuple[int, ...]:
    """An ints attribute of n values, each at least `low` and at most 2**31 (the IR's window
    arithmetic stays in int64), its default `default` each."""
    values = tuple(node.attr(name) or (default,) * n)
    if len(values) != n or any(not low <= v <= 2**31 for v in values):
        ctx.fail(f"{name} {list(values)} should be {n} value(s), each from {low} to 2**31")
    return values


def _window_attrs(ctx: ImportContext, node: OnnxNode, spatial: tuple[int, ...],
                  kernel: tuple[int, ...]) -> dict[str, Any]:
    n = len(spatial)
    strides = _ints_attr(ctx, node, "strides", n, 1, 1)
    dilations = _ints_attr(ctx, node, "dilations", n, 1, 1)
    auto_pad = choice(ctx, node, "auto_pad", "NOTSET", AUTO_PADS + ("",)) or "NOTSET"
    if auto_pad == "NOTSET":
        pads = _ints_attr(ctx, node, "pads", 2 * n, 0, 0)
    elif auto_pad == "VALID":
        pads = (0,) * 2 * n
    else:
        total = [max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
                 for size, k, s, d in zip(spatial, kernel, strides, dilations)]
        small = [t // 2 for t in total]
        big = [t - t // 2 for t in total]
        pads = tuple(small + big) if auto_pad == "SAME_UPPER" else tuple(big + small)
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
    kernel = tuple(w.shape[2:])
    if node.attr("kernel_shape") is not None and tuple(node.attr("kernel_shape")) != kernel:
        ctx.fail(f"kernel_shape {list(node.attr('kernel_shape'))} contradicts the weight's "
                 f"{list(w.shape)}")
    if len(x.shape) != len(w.shape):
        ctx.fail(f"input rank {len(x.shape)} and weight rank {len(w.shape)} differ")
    attrs = _window_attrs(ctx, node, tuple(x.shape[2:]), kernel)
    attrs["group"] = int(node.attr("group", 1))
    return [_windowed(ctx, "conv", x, [w] + ([b] if b is not None else []), attrs)]


@converts("MaxPool", "AveragePool")
def _pool(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    x = node.arg(0)
    kernel = _ints_attr(ctx, node, "kernel_shape", max(len(x.shape) - 2, 0), 0, 1)
    attrs = _window_attrs(ctx, node, tuple(x.shape[2:]), kernel)
    if any(p >= k for p, k in zip(attrs["pads"], kernel + kernel)):
        ctx.fail(f"pads {list(attrs['pads'])} should be smaller than the kernel {list(kernel)}")
    attrs.update(kernel_shape=kernel, ceil_mode=flag(ctx, node, "ceil_mode"))
    if _one_window_over_all(tuple(x.shape[2:]), kernel, attrs):
        # ceil mode lets a window overhang the input, its outside not counted: one window over
        # the whole input is the global pool (a window of 2560 on a 3x3 map, as Hugging Face's
        # EfficientNet writes its pooler), which would otherwise pad the map to the window
        if node.op_type == "AveragePool":
            return [ctx.op("global_avg_pool", x)]
        return [ctx.op("reduce_max", x, axes=tuple(range(2, len(x.shape))), keepdims=1)]
    if node.op_type == "AveragePool":
        attrs["count_include_pad"] = flag(ctx, node, "count_include_pad")
        return [_windowed(ctx, "avg_pool", x, [], attrs)]
    if node.attr("storage_order", 0):
        ctx.fail("storage_order=1 is not supported")
    return [_windowed(ctx, "max_pool", x, [], attrs)]


def _one_window_over_all(spatial: tuple[int, ...], kernel: tuple[int, ...],
                         attrs: dict) -> bool:
    """Whether a ceil-mode pool without padding or dilation has exactly one output per spatial
    dim, from a window starting at 0 that covers the whole input."""
    strides = tuple(attrs.get("strides", (1,) * len(kernel)))
    dilations = tuple(attrs.get("dilations", (1,) * len(kernel)))
    return (bool(attrs["ceil_mode"]) and len(spatial) == 2 and not any(attrs["pads"])
            and all(d == 1 for d in dilations)
            and all(size <= k < size + s for size, k, s in zip(spatial, kernel, strides)))


@converts("GlobalAveragePool")
def _global_avg_pool(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    return [ctx.op("global_avg_pool", node.arg(0))]


@converts("GlobalMaxPool")
def _global_max_pool(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    x = node.arg(0)
    return [ctx.op("reduce_max", x, axes=tuple(range(2, len(x.shape))), keepdims=1)]


@converts("BatchNormalization")
def _batch_norm(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    if flag(ctx, node, "training_mode"):
        ctx.fail("training-mode BatchNormalization is not supported")
    epsilon = non_negative(ctx, node, "epsilon", 1e-5)
    return [ctx.op("batch_norm", *node.args(5), epsilon=epsilon)]


@converts("LayerNormalization")
def _layer_norm(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    inputs = node.present()[:3]
    epsilon = non_negative(ctx, node, "epsilon", 1e-5)
    return [ctx.op("layer_norm", *inputs, axis=node.attr("axis", -1), epsilon=epsilon)]


@converts("Softmax", "LogSoftmax")
def _softmax(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    ir_op = "softmax" if node.op_type == "Softmax" else "log_softmax"
    return [ctx.op(ir_op, node.arg(0), axis=node.attr("axis", -1))]


def _reduce(ir_op: str) -> Converter:
    def convert(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
        x = node.arg(0)
        axes = ints(ctx.const(1, "axes")) if node.input(1) is not None else node.attr("axes")
        keepdims = flag(ctx, node, "keepdims", 1)
        if not axes:
            if flag(ctx, node, "noop_with_empty_axes"):
                return [x]
            axes = range(len(x.shape))
        return [ctx.op(ir_op, x, axes=tuple(axes), keepdims=keepdims)]
    return convert


for _onnx, _ir in {"ReduceMean": "reduce_mean", "ReduceSum": "reduce_sum",
                   "ReduceMax": "reduce_max", "ReduceMin": "reduce_min"}.items():
    CONVERTERS[_onnx] = _reduce(_ir)


@converts("ArgMax")
def _argmax(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    if flag(ctx, node, "select_last_index"):
        ctx.fail("select_last_index=1 is not supported")
    return [ctx.op("argmax", node.arg(0), axis=node.attr("axis", 0),
                   keepdims=flag(ctx, node, "keepdims", 1))]

