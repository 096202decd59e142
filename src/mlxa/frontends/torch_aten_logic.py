"""ATen comparisons, logic, tensor creation and indexing -> the op table, for the PyTorch importer
(same contract and registry as torch_aten.py): the ops Hugging Face models use to build attention
masks and position ids (arange, full_like, new_ones, ge, ne, where, cumsum, type_as, gather,
index, expand), and the no-op _assert_tensor_metadata.

Creation ops make constants of torch's own output shape and dtype (the fake output `out`), so
masks built from them fold at import time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlxa.errors import UnsupportedOpError
from mlxa.frontends.torch_aten import (
    Args,
    Converter,
    Emitter,
    Operand,
    axis,
    converts,
    numpy_dtype,
    shape_of,
)
from mlxa.ir.graph import Value


def _is_tensor(x: Any) -> bool:
    return isinstance(x, (Value, np.ndarray))


def _out_dtype(out: Any) -> np.dtype:
    return numpy_dtype(out.dtype)


def cast(imp: Emitter, x: Operand, dtype: np.dtype) -> Operand:
    """x as `dtype` (unchanged when it already is)."""
    return x if np.dtype(x.dtype) == dtype else imp.emit("cast", x, to=np.dtype(dtype).name)


def _pair(imp: Emitter, a: Any, b: Any) -> tuple[Operand, Operand]:
    """Two operands of one dtype, torch's promotion: a Python scalar takes the tensor's dtype,
    two tensors their common numpy type."""
    if not _is_tensor(a):
        a = np.asarray(a, dtype=b.dtype)
    if not _is_tensor(b):
        b = np.asarray(b, dtype=a.dtype)
    common = np.result_type(a.dtype, b.dtype)
    return cast(imp, a, common), cast(imp, b, common)


def _binary(op: str, negate: bool = False) -> Converter:
    def convert(imp: Emitter, a: Args, out: Any) -> Operand:
        result = imp.emit(op, *_pair(imp, a["input"], a["other"]))
        return imp.emit("not", result) if negate else result
    return convert


for _name, _op in (("ge", "greater_equal"), ("le", "less_equal"), ("gt", "greater"),
                   ("lt", "less"), ("eq", "equal"), ("maximum", "max"), ("minimum", "min")):
    converts(_name)(_binary(_op))
converts("ne")(_binary("equal", negate=True))
for _name, _op in (("__and__", "and"), ("bitwise_and", "and"), ("logical_and", "and"),
                   ("__or__", "or"), ("bitwise_or", "or"), ("logical_or", "or")):
    converts(_name)(_binary(_op))


@converts("logical_not", "bitwise_not")
def _not(imp: Emitter, a: Args, out: Any) -> Operand:
    if np.dtype(a["input"].dtype) != np.bool_:
        raise UnsupportedOpError(f"bitwise not of {a['input'].dtype} (bool only)")
    return imp.emit("not", a["input"])


def _min_max(op: str) -> Converter:
    """min.other elementwise; min() over every element; min.dim without its indices."""

    def convert(imp: Emitter, a: Args, out: Any) -> Any:
        if "other" in a:
            return _binary(op)(imp, a, out)
        x = a["input"]
        if a.get("dim") is None:
            return imp.emit(f"reduce_{op}", x, axes=tuple(range(len(x.shape))), keepdims=0)
        y = imp.emit(f"reduce_{op}", x, axes=(axis(a["dim"], len(x.shape)),),
                     keepdims=int(bool(a.get("keepdim"))))
        return (y, None)
    return convert


converts("min")(_min_max("min"))
converts("max")(_min_max("max"))


@converts("where")
def _where(imp: Emitter, a: Args, out: Any) -> Operand:
    cond = a["condition"]
    dtype = _out_dtype(out)
    x, y = (v if _is_tensor(v) else np.asarray(v, dtype) for v in (a["input"], a["other"]))
    return imp.emit("where", cond, cast(imp, x, dtype), cast(imp, y, dtype))


def _unary(op: str) -> Converter:
    def convert(imp: Emitter, a: Args, out: Any) -> Operand:
        return imp.emit(op, a["input"])
    return convert


for _name in ("cos", "sin", "sign", "isnan", "selu"):
    converts(_name)(_unary(_name))


@converts("elu")
def _elu(imp: Emitter, a: Args, out: Any) -> Operand:
    if a.get("scale", 1) != 1 or a.get("input_scale", 1) != 1:
        raise UnsupportedOpError("elu with scale or input_scale other than 1")
    return imp.emit("elu", a["input"], alpha=float(a.get("alpha", 1.0)))


@converts("softplus")
def _softplus(imp: Emitter, a: Args, out: Any) -> Operand:
    """log(1 + exp(beta x)) / beta; torch's linear region above `threshold` differs from it by
    less than float32 rounding at the default threshold 20."""
    x, beta = a["input"], float(a.get("beta", 1.0))
    if beta == 1.0:
        return imp.emit("softplus", x)
    scaled = imp.emit("mul", x, np.asarray(beta, x.dtype))
    return imp.emit("div", imp.emit("softplus", scaled), np.asarray(beta, x.dtype))


@converts("cumsum")
def _cumsum(imp: Emitter, a: Args, out: Any) -> Operand:
    x = cast(imp, a["input"], _out_dtype(out))
    return imp.emit("cumsum", x, axis=axis(a["dim"], max(len(x.shape), 1)))


@converts("type_as")
def _type_as(imp: Emitter, a: Args, out: Any) -> Operand:
    return cast(imp, a["input"], np.dtype(a["other"].dtype))


# -- creation -------------------------------------------------------------------------------------

@converts("arange")
def _arange(imp: Emitter, a: Args, out: Any) -> Operand:
    start, end, step = a.get("start", 0), a["end"], a.get("step", 1)
    values = np.arange(start, end, step)
    if values.shape != shape_of(out):
        raise UnsupportedOpError(f"arange({start}, {end}, {step}) of a dynamic length")
    return values.astype(_out_dtype(out))


def _filled(value: Any) -> Converter:
    def convert(imp: Emitter, a: Args, out: Any) -> Operand:
        fill = a.get("fill_value", value)
        return np.full(shape_of(out), fill, _out_dtype(out))
    return convert


for _name, _value in (("full_like", None), ("new_full", None), ("full", None),
                      ("new_ones", 1), ("ones_like", 1), ("ones", 1),
                      ("new_zeros", 0), ("zeros_like", 0), ("zeros", 0)):
    converts(_name)(_filled(_value))


@converts("_assert_tensor_metadata", "_assert_scalar", "sym_constrain_range_for_size")
def _assert(imp: Emitter, a: Args, out: Any) -> None:
    return None  # a check torch.export records; the shapes here are static and already checked


# -- indexing -------------------------------------------------------------------------------------

@converts("expand")
def _expand(imp: Emitter, a: Args, out: Any) -> Operand:
    x, shape = a["input"], shape_of(out)
    if tuple(x.shape) == shape:
        return x
    if isinstance(x, np.ndarray):
        return np.array(np.broadcast_to(x, shape))
    return imp.emit("expand", x, shape=shape)


@converts("gather")
def _gather(imp: Emitter, a: Args, out: Any) -> Operand:
    x = a["input"]
    return imp.emit("gather_elements", x, a["index"], axis=axis(a["dim"], len(x.shape)))


@converts("index")
def _index(imp: Emitter, a: Args, out: Any) -> Operand:
    """x[..., i0, i1, ...] with integer index tensors on consecutive dims (None elsewhere): the
    indexed dims merged into one, then one gather with the flat index."""
    x, indices = a["input"], list(a["indices"])
    used = [k for k, i in enumerate(indices) if i is not None]
    if not used or used != list(range(used[0], used[-1] + 1)):
        raise UnsupportedOpError("index with index tensors on non-adjacent dims")
    if any(np.dtype(indices[k].dtype).kind not in "iu" for k in used):
        raise UnsupportedOpError("index with a boolean mask (its result's shape is dynamic)")
    first, last = used[0], used[-1] + 1
    dims = tuple(x.shape[first:last])
    flat = _flat_index(imp, [indices[k] for k in used], dims)
    merged = tuple(x.shape[:first]) + (int(np.prod(dims)),) + tuple(x.shape[last:])
    if merged != tuple(x.shape):
        x = imp.emit("reshape", x, shape=merged)
    y = imp.emit("gather", x, flat, axis=first)
    return y if tuple(y.shape) == shape_of(out) else imp.emit("reshape", y, shape=shape_of(out))


def _flat_index(imp: Emitter, parts: list[Operand], dims: tuple[int, ...]) -> Operand:
    """sum of index_k * stride_k (negative indices wrapped first), broadcast together."""
    flat: Operand | None = None
    for k, (idx, n) in enumerate(zip(parts, dims)):
        idx = cast(imp, idx, np.dtype(np.int64))
        if isinstance(idx, np.ndarray):
            idx = np.where(idx < 0, idx + n, idx)
        stride = int(np.prod(dims[k + 1:]))
        term = idx if stride == 1 else imp.emit("mul", idx, np.asarray(stride, np.int64))
        flat = term if flat is None else imp.emit("add", flat, term)
    assert flat is not None
    return flat


def _triangle(upper: bool) -> Converter:
    def convert(imp: Emitter, a: Args, out: Any) -> Operand:
        x, k = a["input"], int(a.get("diagonal", 0))
        ones = np.ones(tuple(x.shape[-2:]), bool)
        keep = np.triu(ones, k) if upper else np.tril(ones, k)
        if isinstance(x, np.ndarray):
            return np.where(keep, x, np.zeros((), x.dtype))
        return imp.emit("where", keep, x, np.zeros((), x.dtype))
    return convert


converts("triu")(_triangle(True))
converts("tril")(_triangle(False))
