"""ATen ops -> the op table: one converter per op, for the PyTorch importer (torch_import.py).

A converter takes an Emitter (the importer), the op's arguments by their schema names (defaults
filled in, fx nodes replaced by Operands: graph Values or constant numpy arrays) and torch's fake
output (for static shapes), and returns an Operand or a tuple of them. It emits ops through
`imp.emit`, which folds ops whose inputs are all constants. No torch import is needed here.
Imports go one way: torch_import imports the converters, which know the importer only as the
Emitter protocol below.

This file holds the registry, convolution, linear algebra, normalisation and elementwise ops;
torch_aten_layout.py the reductions, pooling and layout ops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from mlxa.errors import UnsupportedOpError
from mlxa.ir.graph import Value

Operand = Value | np.ndarray
Args = dict[str, Any]


class Emitter(Protocol):
    """What a converter may ask of the importer: add an op, folded when its inputs are all
    constants."""

    def emit(self, op: str, *inputs: Operand, **attrs: Any) -> Operand: ...

    def emit_multi(self, op: str, *inputs: Operand, **attrs: Any) -> tuple[Operand, ...]: ...


Converter = Callable[[Emitter, Args, Any], Any]
CONVERTERS: dict[str, Converter] = {}


def converts(*names: str) -> Callable[[Converter], Converter]:
    """Register a converter for ATen op packets ("aten.conv2d"), whatever the overload."""
    def register(fn: Converter) -> Converter:
        for name in names:
            CONVERTERS[f"aten.{name}"] = fn
        return fn
    return register


def operand(x: Any, like: Operand) -> Operand:
    """A Python scalar as a 0-d constant of `like`'s dtype; operands pass through."""
    return x if isinstance(x, (Value, np.ndarray)) else np.asarray(x, dtype=like.dtype)


def axis(dim: int, rank: int) -> int:
    return dim + rank if dim < 0 else dim


def pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    return (int(v[0]), int(v[0])) if len(v) == 1 else (int(v[0]), int(v[1]))


def shape_of(meta: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in meta.shape)


def numpy_dtype(torch_dtype: Any) -> np.dtype:
    """The numpy dtype of a torch dtype (imports torch: call it only while importing)."""
    import torch

    try:
        return torch.empty((), dtype=torch_dtype).numpy().dtype
    except TypeError:
        raise UnsupportedOpError(f"dtype {torch_dtype} has no numpy equivalent") from None


def _ones(n: int) -> np.ndarray:
    return np.ones(n, np.float32)


def _zeros(n: int) -> np.ndarray:
    return np.zeros(n, np.float32)


# -- convolution, linear algebra, normalisation ---------------------------------------------------

@converts("conv2d", "convolution")
def _conv(imp: Emitter, a: Args, out: Any) -> Operand:
    if a.get("transposed") or len(a["weight"].shape) != 4:
        raise UnsupportedOpError("only 2-D, non-transposed convolutions are supported")
    padding = a["padding"]
    if isinstance(padding, str):  # conv2d.padding: 'valid' or 'same' (stride 1)
        kh, kw = a["weight"].shape[2:]
        dh, dw = pair(a["dilation"])
        padding = (0, 0) if padding == "valid" else ((kh - 1) * dh // 2, (kw - 1) * dw // 2)
    ph, pw = pair(padding)
    ins = [a["input"], a["weight"]] + ([a["bias"]] if a["bias"] is not None else [])
    return imp.emit("conv", *ins, strides=pair(a["stride"]), pads=(ph, pw, ph, pw),
                    dilations=pair(a["dilation"]), group=int(a["groups"]))


@converts("linear")
def _linear(imp: Emitter, a: Args, out: Any) -> Operand:
    x, w, bias = a["input"], a["weight"], a["bias"]
    if len(x.shape) == 2:
        return imp.emit("gemm", x, w, *([bias] if bias is not None else []), transB=1)
    y = imp.emit("matmul", x, imp.emit("transpose", w, perm=(1, 0)))
    return y if bias is None else imp.emit("add", y, bias)


@converts("addmm")
def _addmm(imp: Emitter, a: Args, out: Any) -> Operand:
    return imp.emit("gemm", a["mat1"], a["mat2"], a["input"], alpha=float(a["alpha"]),
                    beta=float(a["beta"]))


@converts("mm", "bmm", "matmul")
def _matmul(imp: Emitter, a: Args, out: Any) -> Operand:
    return imp.emit("matmul", a["input"], a["mat2"] if "mat2" in a else a["other"])


@converts("batch_norm", "_native_batch_norm_legit_no_training")
def _batch_norm(imp: Emitter, a: Args, out: Any) -> Any:
    if a.get("training"):
        raise UnsupportedOpError("batch_norm in training mode")
    x = a["input"]
    c = x.shape[1]
    scale = _ones(c) if a["weight"] is None else a["weight"]
    bias = _zeros(c) if a["bias"] is None else a["bias"]
    y = imp.emit("batch_norm", x, scale, bias, a["running_mean"], a["running_var"],
                 epsilon=float(a["eps"]))
    return (y, None, None) if isinstance(out, (tuple, list)) else y


@converts("layer_norm", "native_layer_norm")
def _layer_norm(imp: Emitter, a: Args, out: Any) -> Any:
    x, shape = a["input"], tuple(a["normalized_shape"])
    n = int(np.prod(shape))
    scale = _ones(n).reshape(shape) if a["weight"] is None else a["weight"]
    bias = _zeros(n).reshape(shape) if a["bias"] is None else a["bias"]
    y = imp.emit("layer_norm", x, scale, bias, axis=len(x.shape) - len(shape),
                 epsilon=float(a["eps"]))
    return (y, None, None) if isinstance(out, (tuple, list)) else y


@converts("softmax", "_softmax")
def _softmax(imp: Emitter, a: Args, out: Any) -> Operand:
    return imp.emit("softmax", a["input"], axis=int(a["dim"]))


@converts("scaled_dot_product_attention")
def _attention(imp: Emitter, a: Args, out: Any) -> Operand:
    """softmax(q k^T * scale + mask) v, written out in ops."""
    q, k, v, mask = a["query"], a["key"], a["value"], a["attn_mask"]
    if a.get("dropout_p"):
        raise UnsupportedOpError("scaled_dot_product_attention with dropout")
    if a.get("enable_gqa") and k.shape[-3] != q.shape[-3]:
        k, v = (_repeat_heads(imp, t, q.shape[-3] // t.shape[-3]) for t in (k, v))
    rank = len(q.shape)
    perm = tuple(range(rank - 2)) + (rank - 1, rank - 2)
    scale = a["scale"] if a["scale"] is not None else 1.0 / np.sqrt(q.shape[-1])
    scores = imp.emit("matmul", q, imp.emit("transpose", k, perm=perm))
    scores = imp.emit("mul", scores, operand(scale, scores))
    n_q, n_k = q.shape[-2], k.shape[-2]
    if a["is_causal"]:
        mask = np.where(np.tril(np.ones((n_q, n_k), bool)), 0.0, -np.inf).astype(scores.dtype)
    if mask is not None:
        if mask.dtype == np.bool_:  # True attends: an additive mask of 0 and -inf
            mask = imp.emit("where", mask, np.zeros((), scores.dtype),
                            np.full((), -np.inf, scores.dtype))
        scores = imp.emit("add", scores, mask)
    return imp.emit("matmul", imp.emit("softmax", scores, axis=-1), v)


def _repeat_heads(imp: Emitter, t: Operand, n: int) -> Operand:
    """(..., H, S, D) -> (..., H * n, S, D), each head n times in a row (grouped-query
    attention's key and value heads shared by n query heads)."""
    *lead, h, s, d = (int(x) for x in t.shape)
    wide = imp.emit("expand", imp.emit("unsqueeze", t, axes=(len(lead) + 1,)),
                    shape=(*lead, h, n, s, d))
    return imp.emit("reshape", wide, shape=(*lead, h * n, s, d))


# -- elementwise ----------------------------------------------------------------------------------

def _unary(op: str, **attrs: Any) -> Converter:
    def convert(imp: Emitter, a: Args, out: Any) -> Operand:
        return imp.emit(op, a["input"], **attrs)
    return convert


for _name in ("relu", "sigmoid", "tanh", "silu", "erf", "sqrt", "hardswish", "neg", "exp", "log",
              "abs", "reciprocal"):
    converts(_name)(_unary(_name))


@converts("gelu")
def _gelu(imp: Emitter, a: Args, out: Any) -> Operand:
    return imp.emit("gelu", a["input"], approximate=a["approximate"])


def _clip(imp: Emitter, x: Operand, lo: float | None, hi: float | None) -> Operand:
    return imp.emit("clip", x, min=None if lo is None else float(lo),
                    max=None if hi is None else float(hi))


@converts("hardtanh")
def _hardtanh(imp: Emitter, a: Args, out: Any) -> Operand:
    return _clip(imp, a["input"], a["min_val"], a["max_val"])


@converts("relu6")
def _relu6(imp: Emitter, a: Args, out: Any) -> Operand:
    return _clip(imp, a["input"], 0.0, 6.0)


@converts("clamp")
def _clamp(imp: Emitter, a: Args, out: Any) -> Operand:
    if isinstance(a["min"], (Value, np.ndarray)) or isinstance(a["max"], (Value, np.ndarray)):
        raise UnsupportedOpError("clamp with tensor bounds")
    return _clip(imp, a["input"], a["min"], a["max"])


@converts("clamp_min")
def _clamp_min(imp: Emitter, a: Args, out: Any) -> Operand:
    return _clip(imp, a["input"], a["min"], None)


@converts("clamp_max")
def _clamp_max(imp: Emitter, a: Args, out: Any) -> Operand:
    return _clip(imp, a["input"], None, a["max"])


@converts("hardsigmoid")
def _hardsigmoid(imp: Emitter, a: Args, out: Any) -> Operand:
    return imp.emit("hardsigmoid", a["input"], alpha=1 / 6, beta=0.5)


@converts("leaky_relu")
def _leaky_relu(imp: Emitter, a: Args, out: Any) -> Operand:
    return imp.emit("leaky_relu", a["input"], alpha=float(a["negative_slope"]))


def _binary(op: str) -> Converter:
    def convert(imp: Emitter, a: Args, out: Any) -> Operand:
        x, y = a["input"], a["other"]
        like = x if isinstance(x, (Value, np.ndarray)) else y
        x, y = operand(x, like), operand(y, like)
        if a.get("alpha", 1) != 1:
            y = imp.emit("mul", y, operand(a["alpha"], like))
        return imp.emit(op, x, y)
    return convert


for _name, _op in (("add", "add"), ("sub", "sub"), ("mul", "mul")):
    converts(_name)(_binary(_op))


@converts("div")
def _div(imp: Emitter, a: Args, out: Any) -> Operand:
    if a.get("rounding_mode") is not None:
        raise UnsupportedOpError(f"div with rounding_mode={a['rounding_mode']!r}")
    return _binary("div")(imp, a, out)


@converts("rsub")
def _rsub(imp: Emitter, a: Args, out: Any) -> Operand:
    x = a["input"]
    scaled = x if a["alpha"] == 1 else imp.emit("mul", x, operand(a["alpha"], x))
    return imp.emit("sub", operand(a["other"], x), scaled)


@converts("pow")
def _pow(imp: Emitter, a: Args, out: Any) -> Operand:
    x, exponent = a["input"], a["exponent"]  # either may be a Python scalar
    return imp.emit("pow", operand(x, exponent), operand(exponent, x))


@converts("rsqrt")
def _rsqrt(imp: Emitter, a: Args, out: Any) -> Operand:
    return imp.emit("reciprocal", imp.emit("sqrt", a["input"]))


for _name, _op in (("maximum", "max"), ("minimum", "min")):
    converts(_name)(_binary(_op))
