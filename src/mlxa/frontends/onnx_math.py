"""ONNX converters for the activations and math ops beyond onnx_ops.py's: Elu, Selu, Softplus,
Shrink, Sign, Cos, Sin and IsNaN (one IR op each, attributes checked here)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from mlxa.frontends.onnx_context import (
    Converter,
    ImportContext,
    OnnxNode,
    Operand,
    non_negative,
    registrar,
)

CONVERTERS: dict[str, Converter] = {}
converts = registrar(CONVERTERS)


def _finite(ctx: ImportContext, node: OnnxNode, name: str, default: float) -> float:
    value = float(node.attr(name, default))
    if not math.isfinite(value):
        ctx.fail(f"{name}={value!r} must be finite")
    return value


@converts("Softplus", "Sign", "Cos", "Sin", "IsNaN")
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
