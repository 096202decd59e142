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
    if not isinstance(size, int) or size < 1:
        ctx.fail(f"size={size!r} must be a positive integer")
    return [ctx.op("lrn", node.arg(0), size=size, alpha=_finite(ctx, node, "alpha", 1e-4),
                   beta=_finite(ctx, node, "beta", 0.75), bias=_finite(ctx, node, "bias", 1.0))]
