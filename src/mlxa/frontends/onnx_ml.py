"""ONNX `ai.onnx.ml` converters: the ops scikit-learn converters (skl2onnx) write for scalers,
linear models and MLPs, in their ONNX Runtime semantics, as IR ops: Scaler, Normalizer,
ArrayFeatureExtractor, LinearRegressor, LinearClassifier and ZipMap (a no-op: its input tensor
of probabilities stands for the sequence of maps it would build). Tree ensembles are refused
with the reason (`refusal_note`).

Outputs are float32 as ONNX Runtime gives them; labels are the int64 class labels (string labels
are refused: the IR holds numbers only).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlxa.frontends.onnx_context import (
    Converter,
    ImportContext,
    OnnxNode,
    Operand,
    choice,
    registrar,
)

ML_DOMAIN = "ai.onnx.ml"
ML_CONVERTERS: dict[str, Converter] = {}
converts = registrar(ML_CONVERTERS)
TREES = ("TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble")
F32 = np.dtype(np.float32)


def refusal_note(unsupported: Sequence[str]) -> str:
    """Why tree ensembles among `unsupported` ('ai.onnx.ml.TreeEnsembleClassifier (name)') are
    refused ('' when there are none)."""
    if not any(entry.startswith(f"{ML_DOMAIN}.{tree} ") for entry in unsupported
               for tree in TREES):
        return ""
    return (". Tree ensembles are refused: each sample walks its own path through every "
            "tree, which is no dense tensor op (linear models, scalers and MLPs import)")


def _floats(ctx: ImportContext, node: OnnxNode, name: str) -> np.ndarray:
    values = np.asarray(node.attr(name) or [], np.float32)
    if not np.all(np.isfinite(values)):
        ctx.fail(f"{name} holds a value that is not finite")
    return values


def _float_input(ctx: ImportContext, x: Operand) -> Operand:
    if len(x.shape) not in (1, 2):
        ctx.fail(f"input of rank {len(x.shape)}: [N, C] or [C] expected")
    return x if x.dtype == F32 else ctx.op("cast", x, to="float32")


@converts("ZipMap")
def _zipmap(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    return [node.arg(0)]


@converts("Scaler")
def _scaler(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    """(x - offset) * scale per feature (one value applies to every feature)."""
    x = _float_input(ctx, node.arg(0))
    offset, scale = _floats(ctx, node, "offset"), _floats(ctx, node, "scale")
    features = x.shape[-1]
    for name, v in (("offset", offset), ("scale", scale)):
        if v.size not in (0, 1, features):
            ctx.fail(f"{name} has {v.size} values for {features} features")
    y = ctx.op("sub", x, offset) if offset.size else x
    return [ctx.op("mul", y, scale) if scale.size else y]


@converts("Normalizer")
def _normalizer(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    """Each row divided by its max (MAX), sum of |x| (L1) or Euclidean norm (L2)."""
    x = _float_input(ctx, node.arg(0))
    norm = choice(ctx, node, "norm", "MAX", ("MAX", "L1", "L2"))
    last = (len(x.shape) - 1,)
    if norm == "MAX":
        size = ctx.op("reduce_max", x, axes=last, keepdims=1)
    elif norm == "L1":
        size = ctx.op("reduce_sum", ctx.op("abs", x), axes=last, keepdims=1)
    else:
        size = ctx.op("sqrt", ctx.op("reduce_sum", ctx.op("mul", x, x), axes=last, keepdims=1))
    return [ctx.op("div", x, size)]


@converts("ArrayFeatureExtractor")
def _array_feature_extractor(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    """x[..., indices] along the last axis, the indices flattened; a 1-D x gives [1, k]."""
    x, indices = node.arg(0), node.arg(1)
    if not x.shape:
        ctx.fail("input is a scalar")
    flat = (indices.reshape(-1) if isinstance(indices, np.ndarray)
            else ctx.op("reshape", indices, shape=(-1,)))
    y = ctx.op("gather", x, flat, axis=len(x.shape) - 1)
    return [ctx.op("unsqueeze", y, axes=(0,)) if len(x.shape) == 1 else y]


def _scores(ctx: ImportContext, node: OnnxNode, n_targets: int) -> Operand:
    """x @ coefficients^T + intercepts, with coefficients [targets, features]."""
    x = _float_input(ctx, node.arg(0))
    if len(x.shape) == 1:
        x = ctx.op("unsqueeze", x, axes=(0,))
    coef, intercepts = _floats(ctx, node, "coefficients"), _floats(ctx, node, "intercepts")
    if n_targets < 1 or coef.size != n_targets * x.shape[1]:
        ctx.fail(f"{coef.size} coefficients for {n_targets} target(s) of {x.shape[1]} features")
    if intercepts.size not in (0, n_targets):
        ctx.fail(f"{intercepts.size} intercepts for {n_targets} target(s)")
    scores = ctx.op("matmul", x, np.ascontiguousarray(coef.reshape(n_targets, -1).T))
    return ctx.op("add", scores, intercepts) if intercepts.size else scores


@converts("LinearRegressor")
def _linear_regressor(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    choice(ctx, node, "post_transform", "NONE", ("NONE",))
    return [_scores(ctx, node, int(node.attr("targets", 1)))]


@converts("LinearClassifier")
def _linear_classifier(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    """ONNX Runtime's semantics: with one coefficient row and two labels (binary), the score s
    gives label 1 when s > 0 and scores [1 - s, s] (LOGISTIC: [1 - p, p], p = sigmoid(s));
    otherwise label = argmax, and the transform applies to every score."""
    labels = node.attr("classlabels_ints")
    if labels is None:
        ctx.fail("string class labels are not supported (the IR holds numbers only)")
    labels = np.asarray(labels, np.int64)
    transform = choice(ctx, node, "post_transform", "NONE",
                       ("NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"))
    if transform == "PROBIT":
        ctx.fail("post_transform PROBIT is not supported")
    n_coef = _floats(ctx, node, "coefficients").size
    features = node.arg(0).shape[-1] if node.arg(0).shape else 1
    n_targets = n_coef // max(features, 1)
    scores = _scores(ctx, node, n_targets)
    if n_targets == 1 and labels.size == 2:
        return _binary(ctx, scores, labels, transform)
    if labels.size != n_targets:
        ctx.fail(f"{labels.size} class labels for {n_targets} score column(s)")
    if transform == "SOFTMAX_ZERO":
        ctx.fail("post_transform SOFTMAX_ZERO with several classes is not supported")
    index = ctx.op("argmax", scores, axis=1, keepdims=0)
    label = ctx.op("gather", labels, index, axis=0)
    if transform == "LOGISTIC":
        scores = ctx.op("sigmoid", scores)
    elif transform == "SOFTMAX":
        scores = ctx.op("softmax", scores, axis=1)
    return [label, scores]


def _binary(ctx: ImportContext, s: Operand, labels: np.ndarray,
            transform: str) -> list[Operand]:
    positive = ctx.op("cast", ctx.op("greater", s, np.zeros((), F32)), to="int64")
    label = ctx.op("gather", labels, ctx.op("reshape", positive, shape=(-1,)), axis=0)
    p = ctx.op("sigmoid", s) if transform == "LOGISTIC" else s
    return [label, ctx.op("concat", ctx.op("sub", np.ones((), F32), p), p, axis=1)]
