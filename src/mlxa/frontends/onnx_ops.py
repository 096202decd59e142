"""ONNX op -> IR op converters: the one table the importer consults (`CONVERTERS`).

This module holds elementwise, arithmetic, logic and matrix ops; onnx_nn.py (convolution,
pooling, normalisation, reductions) and onnx_shape.py (shape ops, constants) add theirs. A
converter takes the context and the node and returns one operand per ONNX output (fewer when the
trailing outputs are not computed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import reduce

import numpy as np

from mlxa.frontends.onnx_context import (
    Converter,
    ImportContext,
    OnnxNode,
    Operand,
    check_integer_divisor,
    choice,
    flag,
    registrar,
    scalar,
)

CONVERTERS: dict[str, Converter] = {}
converts = registrar(CONVERTERS)

UNARY = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Erf": "erf", "Sqrt": "sqrt",
         "Neg": "neg", "Exp": "exp", "Log": "log", "Abs": "abs", "Reciprocal": "reciprocal",
         "HardSwish": "hardswish", "Not": "not"}
BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "PRelu": "prelu",
          "Equal": "equal", "Less": "less", "Greater": "greater", "LessOrEqual": "less_equal",
          "GreaterOrEqual": "greater_equal", "And": "and", "Or": "or", "MatMul": "matmul"}
VARIADIC = {"Max": "max", "Min": "min", "Sum": "add"}


def _unary(ir_op: str) -> Converter:
    def convert(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
        return [ctx.op(ir_op, node.arg(0))]
    return convert


def _binary(ir_op: str) -> Converter:
    def convert(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
        return [ctx.op(ir_op, node.arg(0), node.arg(1))]
    return convert


def _variadic(ir_op: str) -> Converter:
    def convert(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
        return [reduce(lambda a, b: ctx.op(ir_op, a, b), node.present())]
    return convert


for _onnx, _ir in UNARY.items():
    CONVERTERS[_onnx] = _unary(_ir)
for _onnx, _ir in BINARY.items():
    CONVERTERS[_onnx] = _binary(_ir)


@converts("Div")
def _div(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    """Integer Div is folded (truncating, as ONNX does) when both operands are constants; the
    IR's div kernel is a true division, so integers computed at run time are refused."""
    x, y = node.arg(0), node.arg(1)
    if x.dtype.kind in "iu" and not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)):
        ctx.fail(f"integer Div ({x.dtype}) of values computed at run time is not supported")
    return [ctx.op("div", x, y)]
for _onnx, _ir in VARIADIC.items():
    CONVERTERS[_onnx] = _variadic(_ir)


@converts("Mean")
def _mean(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    total = reduce(lambda a, b: ctx.op("add", a, b), node.present())
    return [ctx.op("div", total, np.array(len(node.present()), total.dtype))]


@converts("Pow")
def _pow(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    """ONNX lets the exponent's type differ from the base's; the IR op does not."""
    x, y = node.arg(0), node.arg(1)
    if x.dtype.kind in "iu" and not (isinstance(y, np.ndarray) and np.all(y >= 0)):
        ctx.fail("integer Pow needs a constant, non-negative exponent")
    if y.dtype != x.dtype:
        y = y.astype(x.dtype) if isinstance(y, np.ndarray) else ctx.op("cast", y, to=x.dtype.name)
    return [ctx.op("pow", x, y)]


@converts("Identity", "Dropout")
def _identity(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    if node.op_type == "Dropout" and scalar(ctx.const(2, "training_mode")):
        ctx.fail("training-mode Dropout is not supported")
    return [node.arg(0)]


@converts("Gelu")
def _gelu(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    approximate = choice(ctx, node, "approximate", "none", ("none", "tanh"))
    return [ctx.op("gelu", node.arg(0), approximate=approximate)]


@converts("HardSigmoid")
def _hardsigmoid(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    return [ctx.op("hardsigmoid", node.arg(0), alpha=node.attr("alpha", 0.2),
                   beta=node.attr("beta", 0.5))]


@converts("LeakyRelu")
def _leaky_relu(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    return [ctx.op("leaky_relu", node.arg(0), alpha=node.attr("alpha", 0.01))]


@converts("Clip")
def _clip(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    lo, hi = scalar(ctx.const(1, "min")), scalar(ctx.const(2, "max"))
    return [ctx.op("clip", node.arg(0), min=lo, max=hi)]


@converts("Where")
def _where(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    return [ctx.op("where", *node.args(3))]


@converts("Cast", "CastLike")
def _cast(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    from onnx import helper

    if node.op_type == "CastLike":
        dtype = np.dtype(node.arg(1).dtype)
    else:
        try:
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(node.attr("to")))
        except (KeyError, TypeError, ValueError):
            ctx.fail(f"cast to ONNX type {node.attr('to')} is not supported")
    if dtype.kind not in "biuf":
        ctx.fail(f"cast to {dtype} is not supported")
    return [ctx.op("cast", node.arg(0), to=dtype.name)]


@converts("Gemm")
def _gemm(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    attrs = {k: node.attr(k) for k in ("transA", "transB", "alpha", "beta")
             if node.attr(k) is not None}
    return [ctx.op("gemm", *node.present(), **attrs)]


@converts("Mod")
def _mod(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    a, b = ctx.required_const(0, "dividend"), ctx.required_const(1, "divisor")
    fmod = flag(ctx, node, "fmod")
    if a.dtype != b.dtype:
        ctx.fail(f"dividend {a.dtype} and divisor {b.dtype} differ in type")
    if a.dtype.kind == "f" and not fmod:
        ctx.fail("floating-point Mod needs fmod=1")
    if a.dtype.kind in "iu":
        check_integer_divisor(a, b)
    out_type = np.broadcast_shapes(a.shape, b.shape)
    ctx.check_fits(f"folding Mod to {list(out_type)}", math.prod(out_type) * a.dtype.itemsize)
    return [np.asarray((np.fmod if fmod else np.mod)(a, b))]


def _register_families() -> None:
    from mlxa.frontends import (
        onnx_control,
        onnx_einsum,
        onnx_math,
        onnx_nn,
        onnx_resize,
        onnx_rnn,
        onnx_shape,
    )

    CONVERTERS.update(onnx_nn.CONVERTERS)
    CONVERTERS.update(onnx_shape.CONVERTERS)
    CONVERTERS.update(onnx_math.CONVERTERS)
    CONVERTERS.update(onnx_control.CONVERTERS)
    CONVERTERS.update(onnx_resize.CONVERTERS)
    CONVERTERS.update(onnx_einsum.CONVERTERS)
    CONVERTERS.update(onnx_rnn.CONVERTERS)


_register_families()
