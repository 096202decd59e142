"""Elementwise ops: activations and broadcasting arithmetic.

Each op is written once as a block kernel `ew(args, out, tmps, attrs)` that must stay correct when
`out` is one of `args` (in-place execution); `tmps` are scratch blocks of `out`'s shape that never
alias anything. The whole-tensor kernel, the fused kernel and the compiled executor all run these
same block kernels. FLOPs count one per arithmetic or transcendental operation of the formula.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mlxa.ir.graph import TensorType
from mlxa.ops import memory
from mlxa.ops.blocks import BLOCK_ELEMENTS, block_elements_of, iter_blocks
from mlxa.ops.table import Attrs, OpDef, broadcast_shape, register, same_dtype

Arrays = Sequence[np.ndarray]
BlockKernel = Callable[[Arrays, np.ndarray, Arrays, Attrs], Any]

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
GELU_C = 0.044715


def broadcast_rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    return (TensorType(broadcast_shape(ins), same_dtype(ins)),)


def run_blocks(ew: BlockKernel, n_tmp: int, ins: Arrays, out: np.ndarray, attrs: Attrs,
               scratch: np.ndarray | None) -> None:
    for args, o, tmps in iter_blocks(ins, out, n_tmp, scratch):
        ew(args, o, tmps, attrs)


def elementwise_kernel(ew: BlockKernel, n_tmp: int) -> Callable[..., tuple[np.ndarray, ...]]:
    """The whole-tensor kernel of a block kernel: allocates result and scratch unless given."""

    def kernel(ins: Arrays, outs: Arrays | None, attrs: Attrs) -> tuple[np.ndarray, ...]:
        shape = np.broadcast_shapes(*(a.shape for a in ins))
        out = outs[0] if outs else memory.empty(shape, ins[0].dtype)
        scratch = (memory.empty((n_tmp * block_elements_of(shape),), out.dtype)
                   if n_tmp else None)
        run_blocks(ew, n_tmp, ins, out, attrs, scratch)
        return (out,)

    return kernel


def elementwise(name: str, ew: BlockKernel, flops_per_element: int, n_tmp: int = 0,
                doc: str = "") -> OpDef:
    def flops(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
        return flops_per_element * outs[0].size

    return register(OpDef(name, broadcast_rule, flops, elementwise_kernel(ew, n_tmp),
                          inplace=True, ew=ew, n_tmp=n_tmp, doc=doc))


# -- block kernels -------------------------------------------------------------------------------

def _binary(ufunc: np.ufunc) -> BlockKernel:
    def ew(args: Arrays, o: np.ndarray, t: Arrays, attrs: Attrs) -> None:
        ufunc(args[0], args[1], out=o)
    return ew


# numpy's maximum against a scalar runs about 3x slower than against an array (its SIMD loop
# wants two contiguous operands), so ReLU reads a read-only block of zeros: made once at import,
# never per call (the compiled executor allocates nothing when it runs).
_ZEROS = {np.dtype(dt): np.zeros(BLOCK_ELEMENTS, dt) for dt in (np.float32, np.float64)}
for _z in _ZEROS.values():
    _z.setflags(write=False)


def _zeros_like(o: np.ndarray) -> np.ndarray | float:
    z = _ZEROS.get(o.dtype)
    if z is None or o.size > z.size or not o.flags.c_contiguous:
        return 0
    return z[:o.size].reshape(o.shape)


def _relu(args: Arrays, o: np.ndarray, t: Arrays, attrs: Attrs) -> None:
    x = args[0]
    np.maximum(x, _zeros_like(o) if x.shape == o.shape else 0, out=o)


def _gelu(args: Arrays, o: np.ndarray, t: Arrays, attrs: Attrs) -> None:
    if attrs.get("approximate", "none") == "tanh":
        _gelu_tanh(args[0], o, t[0])
    else:
        _gelu_erf(args[0], o, t)


def _gelu_tanh(x: np.ndarray, o: np.ndarray, t: np.ndarray) -> None:
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    np.multiply(x, x, out=t)
    t *= GELU_C * SQRT_2_OVER_PI
    t += SQRT_2_OVER_PI
    t *= x
    np.tanh(t, out=t)
    t += 1.0
    np.multiply(x, t, out=o)
    o *= 0.5


# Abramowitz & Stegun 7.1.26: erf(z) = 1 - poly(1/(1+p z)) exp(-z^2) for z >= 0, |error| < 1.5e-7.
_ERF_P = 0.3275911
_ERF_A = (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)


def _gelu_erf(x: np.ndarray, o: np.ndarray, t: Arrays) -> None:
    """0.5 x (1 + erf(x / sqrt 2)) = 0.5 (x + |x| erf(|x| / sqrt 2))."""
    z, e, acc = t
    np.abs(x, out=z)
    z *= 1.0 / math.sqrt(2.0)
    _erf_nonneg(z, e, acc)
    np.abs(x, out=z)
    acc *= z
    np.add(x, acc, out=o)
    o *= 0.5


def _erf_nonneg(z: np.ndarray, e: np.ndarray, acc: np.ndarray) -> None:
    """acc = erf(z) for z >= 0; clobbers z and e."""
    np.multiply(z, z, out=e)
    np.negative(e, out=e)
    np.exp(e, out=e)
    z *= _ERF_P
    z += 1.0
    np.reciprocal(z, out=z)
    np.multiply(z, _ERF_A[0], out=acc)
    for a in _ERF_A[1:]:
        acc += a
        acc *= z
    acc *= e
    np.subtract(1.0, acc, out=acc)


def _erf(args: Arrays, o: np.ndarray, t: Arrays, attrs: Attrs) -> None:
    z, e, acc = t
    x = args[0]
    np.abs(x, out=z)
    _erf_nonneg(z, e, acc)
    np.copysign(acc, x, out=o)


def _sigmoid(args: Arrays, o: np.ndarray, t: Arrays, attrs: Attrs) -> None:
    """0.5 tanh(x / 2) + 0.5: the same value as 1 / (1 + exp(-x)) without overflow."""
    np.multiply(args[0], 0.5, out=o)
    np.tanh(o, out=o)
    o *= 0.5
    o += 0.5


def _silu(args: Arrays, o: np.ndarray, t: Arrays, attrs: Attrs) -> None:
    """x sigmoid(x)."""
    _sigmoid(args, t[0], (), attrs)
    np.multiply(args[0], t[0], out=o)


def _tanh(args: Arrays, o: np.ndarray, t: Arrays, attrs: Attrs) -> None:
    np.tanh(args[0], out=o)


ADD = elementwise("add", _binary(np.add), 1, doc="a + b, broadcasting (a bias add included)")
SUB = elementwise("sub", _binary(np.subtract), 1, doc="a - b, broadcasting")
MUL = elementwise("mul", _binary(np.multiply), 1, doc="a * b, broadcasting")
DIV = elementwise("div", _binary(np.divide), 1, doc="a / b, broadcasting")
RELU = elementwise("relu", _relu, 1, doc="max(x, 0)")
GELU = elementwise("gelu", _gelu, 14, n_tmp=3,
                   doc="approximate='tanh': 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))); "
                       "'none': 0.5x(1+erf(x/sqrt 2))")
ERF = elementwise("erf", _erf, 12, n_tmp=3, doc="erf(x), |error| < 1.5e-7")
SIGMOID = elementwise("sigmoid", _sigmoid, 4, doc="1/(1+exp(-x))")
SILU = elementwise("silu", _silu, 5, n_tmp=1, doc="x*sigmoid(x) (swish)")
TANH = elementwise("tanh", _tanh, 1, doc="tanh(x)")


# -- more activations and arithmetic (ONNX names) --------------------------------------------------

def _unary(ufunc: np.ufunc) -> BlockKernel:
    def ew(args: Arrays, o: np.ndarray, t: Arrays, attrs: Attrs) -> None:
        ufunc(args[0], out=o)
    return ew


def _clip(args: Arrays, o: np.ndarray, t: Arrays, attrs: Attrs) -> None:
    """min(max(x, min), max); a bound given as None is absent."""
    lo, hi = attrs.get("min"), attrs.get("max")
    if lo is None and hi is None:
        np.copyto(o, args[0])
    else:
        np.clip(args[0], lo, hi, out=o)


def _hardsigmoid_into(x: np.ndarray, o: np.ndarray, alpha: float, beta: float) -> None:
    np.multiply(x, alpha, out=o)
    o += beta
    np.clip(o, 0.0, 1.0, out=o)


def _hardsigmoid(args: Arrays, o: np.ndarray, t: Arrays, attrs: Attrs) -> None:
    """max(0, min(1, alpha x + beta))."""
    _hardsigmoid_into(args[0], o, attrs.get("alpha", 0.2), attrs.get("beta", 0.5))


def _hardswish(args: Arrays, o: np.ndarray, t: Arrays, attrs: Attrs) -> None:
    """x hardsigmoid(x) with alpha 1/6, beta 1/2 (MobileNetV3)."""
    _hardsigmoid_into(args[0], t[0], 1.0 / 6.0, 0.5)
    np.multiply(args[0], t[0], out=o)


def _leaky_relu(args: Arrays, o: np.ndarray, t: Arrays, attrs: Attrs) -> None:
    """x if x >= 0 else alpha x: max(x, alpha x) for alpha <= 1, min(x, alpha x) above."""
    alpha = attrs.get("alpha", 0.01)
    np.multiply(args[0], alpha, out=t[0])
    (np.maximum if alpha <= 1 else np.minimum)(args[0], t[0], out=o)


def _prelu(args: Arrays, o: np.ndarray, t: Arrays, attrs: Attrs) -> None:
    """max(x, 0) + slope min(x, 0), slope broadcast to x."""
    x, slope = args
    neg = t[0]
    np.minimum(x, 0, out=neg)
    neg *= slope
    np.maximum(x, 0, out=o)
    o += neg


CLIP = elementwise("clip", _clip, 2, doc="min(max(x, min), max); relu6 is clip 0..6")
HARDSIGMOID = elementwise("hardsigmoid", _hardsigmoid, 4, doc="max(0, min(1, alpha x + beta))")
HARDSWISH = elementwise("hardswish", _hardswish, 5, n_tmp=1, doc="x max(0, min(1, x/6 + 1/2))")
LEAKY_RELU = elementwise("leaky_relu", _leaky_relu, 2, n_tmp=1, doc="x >= 0 ? x : alpha x")
PRELU = elementwise("prelu", _prelu, 4, n_tmp=1, doc="x >= 0 ? x : slope x, slope broadcast")
POW = elementwise("pow", _binary(np.power), 1, doc="a ** b, broadcasting")
MAXIMUM = elementwise("max", _binary(np.maximum), 1, doc="elementwise max(a, b), broadcasting")
MINIMUM = elementwise("min", _binary(np.minimum), 1, doc="elementwise min(a, b), broadcasting")
SQRT = elementwise("sqrt", _unary(np.sqrt), 1, doc="sqrt(x)")
NEG = elementwise("neg", _unary(np.negative), 1, doc="-x")
EXP = elementwise("exp", _unary(np.exp), 1, doc="exp(x)")
LOG = elementwise("log", _unary(np.log), 1, doc="natural log(x)")
ABS = elementwise("abs", _unary(np.abs), 1, doc="|x|")
RECIPROCAL = elementwise("reciprocal", _unary(np.reciprocal), 1, doc="1 / x")
