"""Matrix products: matmul (numpy semantics, batched and broadcast) and gemm (ONNX's
alpha * A' B' + beta * C). Both run np.matmul, the BLAS kernel numpy was built with, eager and
compiled alike, so any difference between the executors is not the matrix-product kernel."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np

from mlxa.errors import ShapeError
from mlxa.ir.graph import TensorType
from mlxa.ops import memory
from mlxa.ops.bound import Step, sequence
from mlxa.ops.table import Attrs, OpDef, register, same_dtype


def matmul_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    if not a or not b:
        raise ShapeError("matmul of a scalar")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ShapeError(f"contracting dims differ: {a2[-1]} vs {b2[-2]}")
    try:
        batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    except ValueError:
        raise ShapeError(f"batch dims do not broadcast: {a2[:-2]} vs {b2[:-2]}") from None
    out = tuple(batch) + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def _matmul_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    a, b = ins
    return (TensorType(matmul_shape(a.shape, b.shape), same_dtype(ins)),)


def _matmul_flops(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    k = ins[0].shape[-1]
    return 2 * outs[0].size * k


def _matmul(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray] | None,
            attrs: Attrs) -> tuple[np.ndarray, ...]:
    a, b = ins
    out = outs[0] if outs else memory.empty(matmul_shape(a.shape, b.shape), a.dtype)
    np.matmul(a, b, out=out)
    return (out,)


def _gemm_operands(a: np.ndarray, b: np.ndarray, attrs: Attrs) -> tuple[np.ndarray, np.ndarray]:
    return (a.T if attrs.get("transA", 0) else a), (b.T if attrs.get("transB", 0) else b)


def _gemm_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    if len(ins) not in (2, 3) or ins[0].shape.__len__() != 2 or len(ins[1].shape) != 2:
        raise ShapeError("gemm takes 2-D A and B and an optional C")
    a, b = ins[0].shape, ins[1].shape
    a = a[::-1] if attrs.get("transA", 0) else a
    b = b[::-1] if attrs.get("transB", 0) else b
    out = matmul_shape(a, b)
    if len(ins) == 3:
        try:
            if np.broadcast_shapes(ins[2].shape, out) != out:
                raise ValueError
        except ValueError:
            raise ShapeError(f"C {ins[2]} does not broadcast to {out}") from None
    return (TensorType(out, same_dtype(ins)),)


def _gemm_flops(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    k = ins[0].shape[0] if attrs.get("transA", 0) else ins[0].shape[1]
    return 2 * outs[0].size * k + (outs[0].size if len(ins) == 3 else 0)


def _gemm(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray] | None,
          attrs: Attrs) -> tuple[np.ndarray, ...]:
    a, b = _gemm_operands(ins[0], ins[1], attrs)
    out = outs[0] if outs else memory.empty((a.shape[0], b.shape[1]), a.dtype)
    np.matmul(a, b, out=out)
    alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
    if alpha != 1.0:
        out *= alpha
    if len(ins) == 3:
        if beta == 1.0:
            out += ins[2]
        else:
            out += beta * ins[2]
    return (out,)


def _bind_gemm(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
               workspace: np.ndarray | None) -> Step:
    """The product with its operand views made once, then alpha and C as in-place passes. One
    row times a transposed B (a classifier at batch 1) is a matrix-vector product, B @ a[0]:
    the BLAS's gemv, where its gemm with one row pays the setup of a full product."""
    a, b = _gemm_operands(ins[0], ins[1], attrs)
    out = outs[0]
    alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
    if len(ins) == 3 and beta != 1.0:  # beta * C needs a temporary: the allocating kernel
        return partial(_gemm, ins, outs, attrs)
    if a.shape[0] == 1 and attrs.get("transB", 0) and ins[1].flags.c_contiguous:
        steps: list[Step] = [partial(np.dot, ins[1], a[0], out=out[0])]
    else:
        steps = [partial(np.matmul, a, b, out=out)]
    if alpha != 1.0:
        steps.append(partial(np.multiply, out, alpha, out=out))
    if len(ins) == 3:
        steps.append(partial(np.add, out, ins[2], out=out))
    return steps[0] if len(steps) == 1 else sequence(steps)


MATMUL = register(OpDef("matmul", _matmul_rule, _matmul_flops, _matmul,
                        doc="a @ b with numpy's batching and broadcasting"))
GEMM = register(OpDef("gemm", _gemm_rule, _gemm_flops, _gemm, bind=_bind_gemm,
                      doc="alpha * op(A) @ op(B) + beta * C (ONNX Gemm)"))
