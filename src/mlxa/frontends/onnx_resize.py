"""ONNX Resize (and Upsample, which the opset upgrade turns into Resize) as IR ops: resizing is
separable, so each resized axis is one op with a constant made here from ONNX's formulas.

- mode 'nearest': a gather along the axis with the source index of every output position;
- mode 'linear': a matmul by the axis's interpolation matrix [out, in] (two non-zeros a row),
  the axis moved last and back with transposes when it is not the last.

Coordinate transforms: half_pixel, pytorch_half_pixel, align_corners, asymmetric; nearest modes:
round_prefer_floor, round_prefer_ceil, floor, ceil. Refused: cubic, tf_crop_and_resize,
antialiasing, keep_aspect_ratio_policy other than stretch, and scales or sizes that are not
constants.
"""

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
    registrar,
)

CONVERTERS: dict[str, Converter] = {}
converts = registrar(CONVERTERS)
TRANSFORMS = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric")
NEAREST = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def source_coordinates(size_in: int, size_out: int, scale: float, transform: str) -> np.ndarray:
    """x_original of every output position (float64), ONNX's coordinate_transformation_mode."""
    x = np.arange(size_out, dtype=np.float64)
    if transform == "align_corners":
        return x * ((size_in - 1) / (size_out - 1)) if size_out > 1 else np.zeros(size_out)
    if transform == "asymmetric":
        return x / scale
    if transform == "pytorch_half_pixel" and size_out <= 1:
        return np.zeros(size_out)
    return (x + 0.5) / scale - 0.5


def nearest_indices(coords: np.ndarray, size_in: int, mode: str) -> np.ndarray:
    if mode == "floor":
        idx = np.floor(coords)
    elif mode == "ceil":
        idx = np.ceil(coords)
    elif mode == "round_prefer_ceil":
        idx = np.floor(coords + 0.5)
    else:  # round_prefer_floor
        idx = np.ceil(coords - 0.5)
    return np.clip(idx, 0, size_in - 1).astype(np.int64)


def linear_matrix(coords: np.ndarray, size_in: int, dtype: np.dtype) -> np.ndarray:
    """[in, out]: column j weighs the two inputs around coordinate j (clamped to the axis)."""
    c = np.clip(coords, 0, size_in - 1)
    low = np.floor(c).astype(np.int64)
    high = np.minimum(low + 1, size_in - 1)
    frac = c - low
    m = np.zeros((size_in, len(coords)), np.float64)
    cols = np.arange(len(coords))
    np.add.at(m, (low, cols), 1.0 - frac)
    np.add.at(m, (high, cols), frac)
    return m.astype(dtype)


def _targets(ctx: ImportContext, node: OnnxNode, shape: tuple[int, ...]
             ) -> tuple[list[int], list[float]]:
    """Output size and scale of every axis, from `scales` (input 2) or `sizes` (input 3)."""
    rank = len(shape)
    axes = [int(a) % rank for a in (node.attr("axes") or range(rank))]
    scales = ctx.const(2, "scales")
    sizes = ctx.const(3, "sizes")
    out, factor = list(shape), [1.0] * rank
    if sizes is not None and sizes.size:
        if choice(ctx, node, "keep_aspect_ratio_policy", "stretch", ("stretch",)) != "stretch":
            ctx.fail("keep_aspect_ratio_policy other than stretch is not supported")
        for a, s in zip(axes, sizes.reshape(-1)):
            out[a], factor[a] = int(s), int(s) / shape[a]
    elif scales is not None and scales.size:
        for a, s in zip(axes, scales.reshape(-1)):
            if not float(s) > 0:
                ctx.fail(f"scale {float(s)} must be positive")
            out[a], factor[a] = int(math.floor(shape[a] * float(s))), float(s)
    else:
        ctx.fail("neither scales nor sizes is given")
    if min(out) < 1:
        ctx.fail(f"output shape {out} has an empty axis")
    return out, factor


@converts("Resize")
def _resize(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    x = node.arg(0)
    mode = choice(ctx, node, "mode", "nearest", ("nearest", "linear"))
    transform = choice(ctx, node, "coordinate_transformation_mode", "half_pixel", TRANSFORMS)
    nearest = choice(ctx, node, "nearest_mode", "round_prefer_floor", NEAREST)
    if node.attr("antialias", 0):
        ctx.fail("antialias=1 is not supported")
    shape = tuple(x.shape)
    out, factor = _targets(ctx, node, shape)
    ctx.check_fits(f"Resize to {out}", 8 * sum(a * b for a, b in zip(shape, out)))
    y = x
    for axis, (n_in, n_out, scale) in enumerate(zip(shape, out, factor)):
        if n_in == n_out and scale == 1.0:
            continue
        coords = source_coordinates(n_in, n_out, scale, transform)
        if mode == "nearest":
            y = ctx.op("gather", y, nearest_indices(coords, n_in, nearest), axis=axis)
        else:
            y = _along(ctx, y, axis, linear_matrix(coords, n_in, np.dtype(x.dtype)))
    return [y]


def _along(ctx: ImportContext, y: Operand, axis: int, matrix: np.ndarray) -> Operand:
    """y with `axis` contracted against matrix [in, out]."""
    rank = len(y.shape)
    if axis == rank - 1:
        return ctx.op("matmul", y, matrix)
    perm = tuple(k for k in range(rank) if k != axis) + (axis,)
    moved = ctx.op("matmul", ctx.op("transpose", y, perm=perm), matrix)
    back = tuple(int(np.argsort(perm)[k]) for k in range(rank))
    return ctx.op("transpose", moved, perm=back)


@converts("Upsample")
def _upsample(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    """Opsets 7 to 9: Resize with asymmetric coordinates and floor for nearest (scales from
    input 1, or before opset 9 from the attribute)."""
    scales = node.input(1)
    if scales is None and node.attr("scales") is not None:
        scales = np.asarray(node.attr("scales"), np.float32)
    attrs = {"mode": node.attr("mode", "nearest"), "nearest_mode": "floor",
             "coordinate_transformation_mode": "asymmetric"}
    resize = OnnxNode("Resize", node.where, [node.arg(0), None, scales], attrs, node.outputs,
                      node.name)
    ctx.node = resize
    return _resize(ctx, resize)
