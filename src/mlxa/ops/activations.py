"""More elementwise ops, ONNX semantics: elu, selu, softplus, shrink, sign, floor, ceil, round
(half to even, as ONNX's Round) and the trigonometric and hyperbolic functions.

Written as block kernels like those of elementwise.py (same contract: correct when `out` is an
input, scratch in `tmps`), so they fuse, run in place and block the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlxa.ops.elementwise import elementwise
from mlxa.ops.table import Attrs

Arrays = Sequence[np.ndarray]

SELU_ALPHA = 1.67326319217681884765625  # ONNX's defaults (float32 values of the paper's)
SELU_GAMMA = 1.05070102214813232421875


def _elu_into(x: np.ndarray, o: np.ndarray, t: np.ndarray, alpha: float) -> None:
    """o = x if x > 0 else alpha (exp(x) - 1); the negative part is made before o is written."""
    np.minimum(x, 0, out=t)
    np.expm1(t, out=t)
    t *= alpha
    np.maximum(x, 0, out=o)
    o += t


def _elu(args: Arrays, o: np.ndarray, t: Arrays, attrs: Attrs) -> None:
    _elu_into(args[0], o, t[0], float(attrs.get("alpha", 1.0)))


def _selu(args: Arrays, o: np.ndarray, t: Arrays, attrs: Attrs) -> None:
    """gamma elu(x; alpha)."""
    _elu_into(args[0], o, t[0], float(attrs.get("alpha", SELU_ALPHA)))
    o *= float(attrs.get("gamma", SELU_GAMMA))


def _softplus(args: Arrays, o: np.ndarray, t: Arrays, attrs: Attrs) -> None:
    """log(1 + exp(x)) as max(x, 0) + log1p(exp(-|x|)): no overflow for large x."""
    x, u = args[0], t[0]
    np.abs(x, out=u)
    np.negative(u, out=u)
    np.exp(u, out=u)
    np.log1p(u, out=u)
    np.maximum(x, 0, out=o)
    o += u


def _shrink(args: Arrays, o: np.ndarray, t: Arrays, attrs: Attrs) -> None:
    """x + bias where x < -lambd, x - bias where x > lambd, else 0."""
    x, (hi, lo) = args[0], t
    lambd, bias = float(attrs.get("lambd", 0.5)), float(attrs.get("bias", 0.0))
    np.greater(x, lambd, out=hi)
    np.subtract(x, bias, out=lo)
    hi *= lo
    np.less(x, -lambd, out=lo)
    np.add(x, bias, out=o)
    o *= lo
    o += hi


def _ufunc(ufunc: np.ufunc):  # type: ignore[no-untyped-def]
    def ew(args: Arrays, o: np.ndarray, t: Arrays, attrs: Attrs) -> None:
        ufunc(args[0], out=o)
    return ew


ELU = elementwise("elu", _elu, 4, n_tmp=1, doc="x > 0 ? x : alpha (exp(x) - 1)")
SELU = elementwise("selu", _selu, 5, n_tmp=1,
                   doc="gamma (x > 0 ? x : alpha (exp(x) - 1)), ONNX's alpha and gamma")
SOFTPLUS = elementwise("softplus", _softplus, 5, n_tmp=1, doc="log(1 + exp(x)), overflow-free")
SHRINK = elementwise("shrink", _shrink, 6, n_tmp=2,
                     doc="x < -lambd ? x + bias : x > lambd ? x - bias : 0")
SIGN = elementwise("sign", _ufunc(np.sign), 1, doc="-1, 0 or 1 by the sign of x")
COS = elementwise("cos", _ufunc(np.cos), 1, doc="cos(x)")
SIN = elementwise("sin", _ufunc(np.sin), 1, doc="sin(x)")
FLOOR = elementwise("floor", _ufunc(np.floor), 1, doc="the largest integer <= x")
CEIL = elementwise("ceil", _ufunc(np.ceil), 1, doc="the smallest integer >= x")
ROUND = elementwise("round", _ufunc(np.rint), 1, doc="the nearest integer, halves to even")
TRIGONOMETRY = {name: elementwise(name, _ufunc(ufunc), 1, doc=f"{name}(x)") for name, ufunc in (
    ("tan", np.tan), ("asin", np.arcsin), ("acos", np.arccos), ("atan", np.arctan),
    ("sinh", np.sinh), ("cosh", np.cosh), ("asinh", np.arcsinh), ("acosh", np.arccosh),
    ("atanh", np.arctanh))}
