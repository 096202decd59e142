"""ONNX converters for the ops beyond onnx_ops.py's and onnx_nn.py's: activations (Elu, Selu,
Softplus, Shrink, Sign, Cos, Sin, IsNaN), CumSum, GatherElements, Trilu, InstanceNormalization
and LRN; attributes checked here."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mlxa.frontends.onnx_context import (
    Converter,
    ImportContext,
    OnnxNode,
    Operand,
    choice,
    flag,
    non_negative,
    registrar,
    scalar,
)

CONVERTERS: dict[str, Converter] = {}
converts = registrar(CONVERTERS)


def _finite(ctx: ImportContext, node: OnnxNode, name: str, default: float) -> float:
    value = float(node.attr(name, default))
    if not math.isfinite(value):
        ctx.fail(f"{name}={value!r} must be finite")
    return value


@converts("Softplus", "Sign", "Cos", "Sin", "IsNaN", "Floor", "Ceil", "Round", "Tan", "Asin",
          "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh")
def _plain(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    return [ctx.op(node.op_type.lower(), node.arg(0))]


@converts("Elu")
def _elu(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    return [ctx.op("elu", node.arg(0), alpha=_finite(ctx, node, "alpha", 1.0))]


@converts("Selu")
def _selu(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    from mlxa.ops.activations import SELU_ALPHA, SELU_GAMMA

    return [ctx.op("selu", node.arg(0), alpha=_finite(ctx, node, "alpha", SELU_ALPHA),
                   gamma=_finite(ctx, node, "gamma", SELU_GAMMA))]


@converts("Shrink")
def _shrink(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    return [ctx.op("shrink", node.arg(0), lambd=non_negative(ctx, node, "lambd", 0.5),
                   bias=_finite(ctx, node, "bias", 0.0))]


@converts("CumSum")
def _cumsum(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    axis = scalar(ctx.required_const(1, "axis"))
    x = node.arg(0)
    if not -max(len(x.shape), 1) <= axis < max(len(x.shape), 1):
        ctx.fail(f"axis {axis} is out of range for rank {len(x.shape)}")
    return [ctx.op("cumsum", x, axis=int(axis), exclusive=flag(ctx, node, "exclusive"),
                   reverse=flag(ctx, node, "reverse"))]


@converts("GatherElements")
def _gather_elements(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    x, indices = node.arg(0), node.arg(1)
    axis = int(node.attr("axis", 0))
    if not -len(x.shape) <= axis < len(x.shape):
        ctx.fail(f"axis {axis} is out of range for rank {len(x.shape)}")
    return [ctx.op("gather_elements", x, indices, axis=axis)]


@converts("Trilu")
def _trilu(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    """A constant folds; otherwise where(mask, x, 0) with the mask of the last two dims made
    here (the causal masks exporters write are Trilu of a constant, so they fold)."""
    x = node.arg(0)
    k = scalar(ctx.const(1, "k")) or 0
    upper = flag(ctx, node, "upper", 1)
    if len(x.shape) < 2:
        ctx.fail(f"Trilu takes a tensor of rank 2 or more, got rank {len(x.shape)}")
    rows, cols = x.shape[-2:]
    ctx.check_fits(f"Trilu mask [{rows},{cols}]", rows * cols)
    ones = np.ones((rows, cols), bool)
    mask = np.triu(ones, int(k)) if upper else np.tril(ones, int(k))
    if isinstance(x, np.ndarray):
        return [np.where(mask, x, np.zeros((), x.dtype))]
    return [ctx.op("where", mask, x, np.zeros((), x.dtype))]


@converts("InstanceNormalization")
def _instance_norm(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    epsilon = non_negative(ctx, node, "epsilon", 1e-5)
    return [ctx.op("instance_norm", *node.args(3), epsilon=epsilon)]


@converts("LRN")
def _lrn(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    size = node.attr("size")
    # odd, as ONNX Runtime requires; at most 2**16, as the kernel steps through every offset
    if not isinstance(size, int) or not 1 <= size <= 2**16 or size % 2 == 0:
        ctx.fail(f"size={size!r} must be an odd integer from 1 to 2**16")
    return [ctx.op("lrn", node.arg(0), size=size, alpha=_finite(ctx, node, "alpha", 1e-4),
                   beta=_finite(ctx, node, "beta", 0.75), bias=_finite(ctx, node, "bias", 1.0))]


# -- window ops over more than two spatial dims, and ConvTranspose --------------------------------

def _over_2d(op_type: str) -> Converter:
    """onnx_nn's converter for 1-D and 2-D windows; conv_nd or a pool_nd for 3-D and above."""
    from mlxa.frontends import onnx_nn

    planar = onnx_nn.CONVERTERS[op_type]

    def convert(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
        x = node.arg(0)
        if len(x.shape) <= 4:
            return planar(ctx, node)
        if op_type == "Conv":
            return [_conv_nd(ctx, node)]
        return [_pool_nd(ctx, node)]
    return convert


def _conv_nd(ctx: ImportContext, node: OnnxNode) -> Operand:
    from mlxa.frontends.onnx_nn import _window_attrs

    x, w, b = node.arg(0), node.arg(1), node.input(2)
    if len(x.shape) != len(w.shape):
        ctx.fail(f"input rank {len(x.shape)} and weight rank {len(w.shape)} differ")
    kernel = tuple(w.shape[2:])
    if node.attr("kernel_shape") is not None and tuple(node.attr("kernel_shape")) != kernel:
        ctx.fail(f"kernel_shape {list(node.attr('kernel_shape'))} contradicts the weight's "
                 f"{list(w.shape)}")
    attrs = _window_attrs(ctx, node, tuple(x.shape[2:]), kernel)
    return ctx.op("conv_nd", x, w, *([b] if b is not None else []), **attrs,
                  group=int(node.attr("group", 1)))


def _pool_nd(ctx: ImportContext, node: OnnxNode) -> Operand:
    from mlxa.frontends.onnx_nn import _ints_attr, _window_attrs

    x = node.arg(0)
    kernel = _ints_attr(ctx, node, "kernel_shape", len(x.shape) - 2, 0, 1)
    attrs = _window_attrs(ctx, node, tuple(x.shape[2:]), kernel)
    if any(p >= k for p, k in zip(attrs["pads"], kernel + kernel)):
        ctx.fail(f"pads {list(attrs['pads'])} should be smaller than the kernel {list(kernel)}")
    attrs.update(kernel_shape=kernel, ceil_mode=flag(ctx, node, "ceil_mode"))
    if node.op_type == "AveragePool":
        return ctx.op("avg_pool_nd", x, count_include_pad=flag(ctx, node, "count_include_pad"),
                      **attrs)
    if node.attr("storage_order", 0):
        ctx.fail("storage_order=1 is not supported")
    return ctx.op("max_pool_nd", x, **attrs)


for _op in ("Conv", "MaxPool", "AveragePool"):
    CONVERTERS[_op] = _over_2d(_op)


@converts("ConvTranspose")
def _conv_transpose(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    """Pads from the attribute, from auto_pad, or from output_shape (ONNX's rule: the total
    padding splits evenly, the odd one at the end for SAME_UPPER, at the start otherwise)."""
    x, w, b = node.arg(0), node.arg(1), node.input(2)
    n = len(x.shape) - 2
    if n < 1 or len(w.shape) != len(x.shape):
        ctx.fail(f"input {list(x.shape)} and weight {list(w.shape)} do not fit")
    ints = {key: tuple(int(v) for v in (node.attr(key) or (default,) * n))
            for key, default in (("strides", 1), ("dilations", 1), ("output_padding", 0))}
    if any(len(v) != n for v in ints.values()):
        ctx.fail(f"strides, dilations and output_padding should have {n} values each")
    pads = _transpose_pads(ctx, node, tuple(x.shape[2:]), tuple(w.shape[2:]), ints)
    return [ctx.op("conv_transpose", x, w, *([b] if b is not None else []), pads=pads,
                   group=int(node.attr("group", 1)), **ints)]


def _transpose_pads(ctx: ImportContext, node: OnnxNode, spatial: tuple[int, ...],
                    kernel: tuple[int, ...], ints: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
    n = len(spatial)
    auto_pad = node.attr("auto_pad", "NOTSET") or "NOTSET"
    shape = node.attr("output_shape")
    if shape is None and auto_pad in ("NOTSET", "VALID"):
        pads = tuple(int(p) for p in (node.attr("pads") or (0,) * 2 * n))
        if len(pads) != 2 * n:
            ctx.fail(f"pads {list(pads)} should have {2 * n} values")
        return pads if auto_pad == "NOTSET" else (0,) * 2 * n
    if auto_pad not in ("NOTSET", "SAME_UPPER", "SAME_LOWER"):
        ctx.fail(f"auto_pad={auto_pad!r} is not supported")
    target = (tuple(int(v) for v in shape)[-n:] if shape is not None else
              tuple(d * s for d, s in zip(spatial, ints["strides"])))
    total = [s * (i - 1) + p + (k - 1) * d + 1 - t for i, k, s, d, p, t in
             zip(spatial, kernel, ints["strides"], ints["dilations"], ints["output_padding"],
                 target)]
    if min(total) < 0:
        ctx.fail(f"output_shape {list(target)} is larger than the full output")
    small, big = [t // 2 for t in total], [t - t // 2 for t in total]
    return tuple(small + big) if auto_pad == "SAME_UPPER" else tuple(big + small)


# -- ops written as a few IR ops ------------------------------------------------------------------

def _const(x: Operand, value: float) -> np.ndarray:
    return np.asarray(value, x.dtype)


@converts("Softsign")
def _softsign(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    """x / (1 + |x|)."""
    x = node.arg(0)
    return [ctx.op("div", x, ctx.op("add", ctx.op("abs", x), _const(x, 1.0)))]


@converts("Mish")
def _mish(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    """x tanh(softplus(x))."""
    x = node.arg(0)
    return [ctx.op("mul", x, ctx.op("tanh", ctx.op("softplus", x)))]


@converts("Celu")
def _celu(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    """max(0, x) + min(0, alpha (exp(x / alpha) - 1)) = alpha elu(x / alpha)."""
    x, alpha = node.arg(0), _finite(ctx, node, "alpha", 1.0)
    if alpha == 0:
        ctx.fail("alpha=0 divides by zero")
    scaled = ctx.op("elu", ctx.op("div", x, _const(x, alpha)), alpha=1.0)
    return [ctx.op("mul", scaled, _const(x, alpha))]


@converts("ThresholdedRelu")
def _thresholded_relu(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    """x where x > alpha, else 0."""
    x, alpha = node.arg(0), _finite(ctx, node, "alpha", 1.0)
    return [ctx.op("where", ctx.op("greater", x, _const(x, alpha)), x, _const(x, 0.0))]


@converts("Xor")
def _xor(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    a, b = node.arg(0), node.arg(1)
    return [ctx.op("and", ctx.op("or", a, b), ctx.op("not", ctx.op("and", a, b)))]


@converts("ArgMin")
def _argmin(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    """The first minimum is the first maximum of -x."""
    if flag(ctx, node, "select_last_index"):
        ctx.fail("select_last_index=1 is not supported")
    return [ctx.op("argmax", ctx.op("neg", node.arg(0)), axis=node.attr("axis", 0),
                   keepdims=flag(ctx, node, "keepdims", 1))]


def _reduce_args(ctx: ImportContext, node: OnnxNode) -> dict | None:
    """axes and keepdims of a reduction (axes from input 1 or the attribute); None for the
    identity that noop_with_empty_axes asks for."""
    x = node.arg(0)
    axes = (tuple(int(a) for a in ctx.required_const(1, "axes").reshape(-1))
            if node.input(1) is not None else node.attr("axes"))
    if not axes:
        if flag(ctx, node, "noop_with_empty_axes"):
            return None
        axes = tuple(range(len(x.shape)))
    return {"axes": tuple(axes), "keepdims": flag(ctx, node, "keepdims", 1)}


@converts("ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp")
def _reduce_composite(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    x = node.arg(0)
    args = _reduce_args(ctx, node)
    if args is None:
        return [x]
    op = node.op_type
    if op == "ReduceLogSumExp":  # max + log(sum(exp(x - max))): no overflow
        top = ctx.op("reduce_max", x, axes=args["axes"], keepdims=1)
        total = ctx.op("reduce_sum", ctx.op("exp", ctx.op("sub", x, top)), **args)
        top = top if args["keepdims"] else ctx.op("squeeze", top, axes=args["axes"])
        return [ctx.op("add", ctx.op("log", total), top)]
    inner = {"ReduceL1": lambda: ctx.op("abs", x), "ReduceLogSum": lambda: x}.get(
        op, lambda: ctx.op("mul", x, x))()
    total = ctx.op("reduce_sum", inner, **args)
    if op == "ReduceL2":
        return [ctx.op("sqrt", total)]
    return [ctx.op("log", total) if op == "ReduceLogSum" else total]


@converts("GroupNormalization")
def _group_norm(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    """An instance_norm of the grouped view (N, G, C/G * spatial) with unit scale, then scale
    and bias per group (opset 18) or per channel (opset 21)."""
    x, scale, bias = node.args(3)
    groups = int(node.attr("num_groups", 0))
    shape = tuple(x.shape)
    if len(shape) < 3 or groups < 1 or shape[1] % groups:
        ctx.fail(f"num_groups={groups} does not divide the channels of {list(shape)}")
    dtype = np.dtype(x.dtype)
    grouped = ctx.op("reshape", x, shape=(shape[0], groups, -1))
    y = ctx.op("instance_norm", grouped, np.ones(groups, dtype), np.zeros(groups, dtype),
               epsilon=non_negative(ctx, node, "epsilon", 1e-5))
    per_group = scale.shape == (groups,) and bias.shape == (groups,)
    if per_group:
        y = ctx.op("add", ctx.op("mul", y, _column(ctx, scale, (groups, 1))),
                   _column(ctx, bias, (groups, 1)))
        return [ctx.op("reshape", y, shape=shape)]
    if scale.shape != (shape[1],) or bias.shape != (shape[1],):
        ctx.fail(f"scale {list(scale.shape)} and bias {list(bias.shape)} should be "
                 f"[{groups}] or [{shape[1]}]")
    per_channel = (shape[1],) + (1,) * (len(shape) - 2)
    y = ctx.op("reshape", y, shape=shape)
    return [ctx.op("add", ctx.op("mul", y, _column(ctx, scale, per_channel)),
                   _column(ctx, bias, per_channel))]


def _column(ctx: ImportContext, v: Operand, shape: tuple[int, ...]) -> Operand:
    return v.reshape(shape) if isinstance(v, np.ndarray) else ctx.op("reshape", v, shape=shape)


@converts("DepthToSpace", "SpaceToDepth")
def _depth_space(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    """A reshape, a transpose and a reshape (ONNX's definitions, DCR and CRD modes)."""
    x = node.arg(0)
    b = int(node.attr("blocksize", 0))
    if len(x.shape) != 4 or b < 1:
        ctx.fail(f"blocksize {b} on a rank-{len(x.shape)} input (4-D NCHW expected)")
    n, c, h, w = (int(d) for d in x.shape)
    if node.op_type == "SpaceToDepth":
        if h % b or w % b:
            ctx.fail(f"blocksize {b} does not divide {h}x{w}")
        t = ctx.op("reshape", x, shape=(n, c, h // b, b, w // b, b))
        t = ctx.op("transpose", t, perm=(0, 3, 5, 1, 2, 4))
        return [ctx.op("reshape", t, shape=(n, c * b * b, h // b, w // b))]
    if c % (b * b):
        ctx.fail(f"blocksize {b} squared does not divide {c} channels")
    crd = choice(ctx, node, "mode", "DCR", ("DCR", "CRD")) == "CRD"
    inner = (n, c // (b * b), b, b, h, w) if crd else (n, b, b, c // (b * b), h, w)
    t = ctx.op("reshape", x, shape=inner)
    t = ctx.op("transpose", t, perm=(0, 1, 4, 2, 5, 3) if crd else (0, 3, 4, 1, 5, 2))
    return [ctx.op("reshape", t, shape=(n, c // (b * b), h * b, w * b))]


@converts("TopK")
def _topk(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    x = node.arg(0)
    k = scalar(ctx.required_const(1, "K"))
    axis = int(node.attr("axis", -1))
    if not -len(x.shape) <= axis < len(x.shape) or not 0 <= int(k) <= x.shape[axis]:
        ctx.fail(f"k={k} on axis {axis} of shape {list(x.shape)}")
    if not flag(ctx, node, "sorted", 1):
        ctx.fail("sorted=0 is not supported (the order would be unspecified)")
    return list(ctx.op_multi("topk", x, k=int(k), axis=axis,
                             largest=flag(ctx, node, "largest", 1)))


@converts("EyeLike")
def _eye_like(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    """A constant: the shape of the input is static."""
    from onnx import helper

    x = node.arg(0)
    if len(x.shape) != 2:
        ctx.fail(f"EyeLike takes a 2-D input, got rank {len(x.shape)}")
    to = node.attr("dtype")
    dtype = np.dtype(helper.tensor_dtype_to_np_dtype(to)) if to is not None else x.dtype
    ctx.check_fits("EyeLike", int(x.shape[0]) * int(x.shape[1]) * dtype.itemsize)
    return [np.eye(x.shape[0], x.shape[1], int(node.attr("k", 0)), dtype=dtype)]


@converts("Hardmax")
def _hardmax(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    """1 at the first maximum along `axis`, 0 elsewhere: argmax compared with the positions."""
    x = node.arg(0)
    axis = int(node.attr("axis", -1)) % max(len(x.shape), 1)
    first = ctx.op("argmax", x, axis=axis, keepdims=1)
    positions = np.arange(x.shape[axis], dtype=np.int64).reshape(
        (-1,) + (1,) * (len(x.shape) - axis - 1))
    return [ctx.op("cast", ctx.op("equal", first, positions), to=np.dtype(x.dtype).name)]


@converts("OneHot")
def _one_hot(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    """where(indices == positions, on, off) with a constant depth; negative indices wrap."""
    indices, values = node.arg(0), ctx.required_const(2, "values")
    depth = int(scalar(ctx.required_const(1, "depth")))
    if depth < 1 or values.size != 2:
        ctx.fail(f"depth {depth} and values of shape {list(values.shape)}: [off, on] expected")
    rank = len(indices.shape) + 1
    axis = int(node.attr("axis", -1)) % rank
    idx = ctx.op("cast", indices, to="int64") if indices.dtype != np.int64 else indices
    idx = ctx.op("add", idx, ctx.op("mul", ctx.op("cast", ctx.op(
        "less", idx, np.zeros((), np.int64)), to="int64"), np.asarray(depth, np.int64)))
    idx = ctx.op("unsqueeze", idx, axes=(axis,))
    positions = np.arange(depth, dtype=np.int64).reshape((-1,) + (1,) * (rank - axis - 1))
    off, on = values.reshape(-1)
    return [ctx.op("where", ctx.op("equal", idx, positions), np.asarray(on), np.asarray(off))]


@converts("LpNormalization")
def _lp_normalization(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    x = node.arg(0)
    p, axis = int(node.attr("p", 2)), int(node.attr("axis", -1))
    if p not in (1, 2):
        ctx.fail(f"p={p} must be 1 or 2")
    if p == 1:
        norm = ctx.op("reduce_sum", ctx.op("abs", x), axes=(axis,), keepdims=1)
    else:
        norm = ctx.op("sqrt", ctx.op("reduce_sum", ctx.op("mul", x, x), axes=(axis,),
                                     keepdims=1))
    return [ctx.op("div", x, norm)]


@converts("GatherND")
def _gather_nd(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    if int(node.attr("batch_dims", 0)):
        ctx.fail("batch_dims other than 0 is not supported")
    return [ctx.op("gather_nd", node.arg(0), node.arg(1))]


@converts("ScatterND")
def _scatter_nd(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    reduction = choice(ctx, node, "reduction", "none", ("none", "add", "mul", "max", "min"))
    return [ctx.op("scatter_nd", *node.args(3), reduction=reduction)]


@converts("ScatterElements", "Scatter")
def _scatter_elements(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    reduction = choice(ctx, node, "reduction", "none", ("none", "add", "mul", "max", "min"))
    x = node.arg(0)
    axis = int(node.attr("axis", 0))
    if not -len(x.shape) <= axis < len(x.shape):
        ctx.fail(f"axis {axis} is out of range for rank {len(x.shape)}")
    return [ctx.op("scatter_elements", *node.args(3), axis=axis, reduction=reduction)]
