"""ONNX converters for shape ops and constants.

The shape arguments ONNX passes as tensors (Reshape's shape, Slice's starts, Pad's pads, ...)
must be constants once the importer has folded what it can; they become the IR ops' concrete
attributes. Shape, Size, ConstantOfShape, Range and Constant always yield constants: every IR
value's shape is known, so Shape of anything folds. What a fold would allocate (ConstantOfShape,
Range, and the Expand, Tile and Pad of constants) is checked against the memory budget first, and
the values the spec constrains are checked (Range's step, Split's outputs, Gather's indices,
Pad's mode).
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
    ints,
    registrar,
    scalar,
    shape_of,
)
from mlxa.ops.shape import reshape_target

CONVERTERS: dict[str, Converter] = {}
converts = registrar(CONVERTERS)


def _required(ctx: ImportContext, k: int, what: str) -> tuple[int, ...]:
    value = ints(ctx.const(k, what))
    if value is None:
        ctx.fail(f"{what} (input {k}) is missing")
    return value


def _int64(values: Sequence[int]) -> np.ndarray:
    return np.array(values, np.int64)


@converts("Reshape")
def _reshape(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    x = node.arg(0)
    target = _required(ctx, 1, "shape")
    if not node.attr("allowzero", 0):
        target = tuple(shape_of(x)[i] if d == 0 else d for i, d in enumerate(target))
    return [ctx.op("reshape", x, shape=reshape_target(shape_of(x), target))]


@converts("Flatten")
def _flatten(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    return [ctx.op("flatten", node.arg(0), axis=node.attr("axis", 1))]


@converts("Transpose")
def _transpose(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    x = node.arg(0)
    perm = node.attr("perm") or tuple(range(len(x.shape) - 1, -1, -1))
    return [ctx.op("transpose", x, perm=tuple(perm))]


@converts("Concat")
def _concat(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    return [ctx.op("concat", *node.present(),
                   axis=node.attr("axis"))]


@converts("Split")
def _split(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    x = node.arg(0)
    axis = int(node.attr("axis", 0))
    dim = shape_of(x)[axis]
    sizes = ints(ctx.const(1, "split")) if node.input(1) is not None else node.attr("split")
    n = node.attr("num_outputs")
    if n is not None and (sizes or n != len(node.outputs)):
        ctx.fail(f"num_outputs={n} with {len(node.outputs)} output(s)"
                 + (" and split sizes given" if sizes else ""))
    if sizes and len(sizes) != len(node.outputs):
        ctx.fail(f"{len(sizes)} split sizes for {len(node.outputs)} output(s)")
    if not sizes:
        n = len(node.outputs)
        chunk = -(-dim // n)
        sizes = [chunk] * (n - 1) + [dim - chunk * (n - 1)]
        if min(sizes) < 0:
            ctx.fail(f"dim {dim} cannot be split into {n} parts")
    return list(ctx.op_multi("split", x, axis=axis, sizes=tuple(sizes)))


@converts("Slice")
def _slice(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    starts, ends = _required(ctx, 1, "starts"), _required(ctx, 2, "ends")
    axes, steps = ints(ctx.const(3, "axes")), ints(ctx.const(4, "steps"))
    return [ctx.op("slice", node.arg(0), starts=starts, ends=ends,
                   axes=axes or tuple(range(len(starts))), steps=steps or (1,) * len(starts))]


@converts("Gather")
def _gather(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    x, indices = node.arg(0), node.arg(1)
    axis = int(node.attr("axis", 0))
    if not -len(x.shape) <= axis < len(x.shape):
        ctx.fail(f"axis {axis} is out of range for rank {len(x.shape)}")
    dim = shape_of(x)[axis]
    if isinstance(indices, np.ndarray) and indices.dtype.kind in "iu" and indices.size and (
            indices.min() < -dim or indices.max() >= dim):
        ctx.fail(f"index {indices.min() if indices.min() < -dim else indices.max()} is out of "
                 f"range for dim {axis} of size {dim}")
    return [ctx.op("gather", x, indices, axis=axis)]


@converts("Squeeze")
def _squeeze(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    x = node.arg(0)
    axes = ints(ctx.const(1, "axes")) or tuple(i for i, d in enumerate(shape_of(x)) if d == 1)
    return [ctx.op("squeeze", x, axes=axes)]


@converts("Unsqueeze")
def _unsqueeze(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    return [ctx.op("unsqueeze", node.arg(0), axes=_required(ctx, 1, "axes"))]


@converts("Pad")
def _pad(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    x = node.arg(0)
    rank = len(shape_of(x))
    pads = _required(ctx, 1, "pads")
    axes = ints(ctx.const(3, "axes"))
    if axes is not None:
        full = [0] * (2 * rank)
        for i, a in enumerate(axes):
            full[a % rank], full[a % rank + rank] = pads[i], pads[i + len(axes)]
        pads = tuple(full)
    value = scalar(ctx.const(2, "constant_value"))
    mode = choice(ctx, node, "mode", "constant", ("constant", "reflect", "edge", "wrap"))
    kept = [d + min(b, 0) + min(e, 0) for d, b, e in zip(shape_of(x), pads, pads[rank:])]
    if mode != "constant" and min(kept, default=1) <= 0:
        ctx.fail(f"{mode} pads {list(pads)} leave nothing of {list(shape_of(x))} to pad from")
    return [ctx.op("pad", x, pads=pads, mode=mode,
                   value=0 if value is None else value)]


@converts("Expand")
def _expand(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    return [ctx.op("expand", node.arg(0), shape=_required(ctx, 1, "shape"))]


@converts("Tile")
def _tile(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    """x[d0, d1] tiled (r0, r1): x as [1, d0, 1, d1], expanded to [r0, d0, r1, d1], reshaped."""
    x = node.arg(0)
    shape, repeats = shape_of(x), _required(ctx, 1, "repeats")
    if len(repeats) != len(shape) or min(repeats, default=0) < 0:
        ctx.fail(f"repeats {list(repeats)} should be {len(shape)} non-negative values")
    spread = ctx.op("reshape", x, shape=tuple(v for d in shape for v in (1, d)))
    wide = ctx.op("expand", spread, shape=tuple(v for r, d in zip(repeats, shape)
                                                for v in (r, d)))
    return [ctx.op("reshape", wide, shape=tuple(r * d for r, d in zip(repeats, shape)))]


@converts("Shape")
def _shape(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    shape = shape_of(node.arg(0))
    start, end = node.attr("start", 0), node.attr("end", len(shape))
    return [_int64(shape[start:end])]


@converts("Size")
def _size(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    return [np.array(math.prod(shape_of(node.arg(0))), np.int64)]


@converts("ConstantOfShape")
def _constant_of_shape(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    shape = _required(ctx, 0, "shape")
    value = node.attr("value")
    value = np.zeros(1, np.float32) if value is None else value
    if value.size != 1:
        ctx.fail(f"value should hold one element, it has shape {list(value.shape)}")
    if min(shape, default=0) < 0:
        ctx.fail(f"shape {list(shape)} has a negative dim")
    ctx.check_fits(f"ConstantOfShape {list(shape)}", math.prod(shape) * value.dtype.itemsize)
    return [np.full(shape, value.reshape(-1)[0], value.dtype)]


@converts("Range")
def _range(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    start, limit, delta = (ctx.required_const(k, what)
                           for k, what in enumerate(("start", "limit", "delta")))
    if not start.dtype == limit.dtype == delta.dtype or start.dtype.kind not in "iuf":
        ctx.fail(f"start, limit and delta must share one numeric type, got {start.dtype}, "
                 f"{limit.dtype}, {delta.dtype}")
    first, last, step = scalar(start), scalar(limit), scalar(delta)
    if step == 0 or not all(math.isfinite(v) for v in (first, last, step)):
        ctx.fail(f"Range({first}, {last}, {step}) needs a non-zero step and finite bounds")
    span = last - first
    count = max(-(-span // step) if start.dtype.kind in "iu" else math.ceil(span / step), 0)
    ctx.check_fits(f"Range of {count} values", count * start.dtype.itemsize)
    return [(first + np.arange(count, dtype=np.int64 if start.dtype.kind in "iu"
                               else np.float64) * step).astype(start.dtype)]


@converts("Constant")
def _constant(ctx: ImportContext, node: OnnxNode) -> Sequence[Operand]:
    attrs = node.attrs
    if "value" in attrs:
        return [attrs["value"]]
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in attrs:
            return [np.array(attrs[key], dtype)]
    ctx.fail(f"Constant with attribute(s) {', '.join(attrs) or 'none'} is not supported")
