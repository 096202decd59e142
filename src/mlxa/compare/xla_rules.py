"""JAX lowering rules, one per op of the op table: rule(args, attrs, outputs) -> array (or a tuple
for ops of several outputs). Imported by compare.xla on first use only: this module needs JAX.

Shape ops take their result shape from the node's output type, which the op table inferred when
the node was built, so no shape rule is written twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from mlxa.ir.graph import Value
from mlxa.ops.indexing import slices
from mlxa.ops.reduce import reduce_axes
from mlxa.ops.spatial import Window, pair, window
from mlxa.ops.table import Attrs

Rule = Callable[[list[Any], Attrs, Sequence[Value]], Any]
HIGHEST = lax.Precision.HIGHEST


def rules() -> dict[str, Rule]:
    table: dict[str, Rule] = {}
    for name, fn in {**_ELEMENTWISE, **_LOGIC}.items():
        table[name] = _elementwise_rule(fn)
    table.update(_STRUCTURED)
    table["fused"] = _fused
    return table


def _elementwise_rule(fn: Callable[..., Any]) -> Rule:
    return lambda args, attrs, outs: fn(*args, attrs)


# -- elementwise -----------------------------------------------------------------------------------

def _clip(x: Any, a: Attrs) -> Any:
    return jnp.clip(x, a.get("min"), a.get("max"))


def _gelu(x: Any, a: Attrs) -> Any:
    return jax.nn.gelu(x, approximate=a.get("approximate", "none") == "tanh")


def _hardsigmoid(x: Any, a: Attrs) -> Any:
    return jnp.clip(a.get("alpha", 0.2) * x + a.get("beta", 0.5), 0.0, 1.0)


def _leaky_relu(x: Any, a: Attrs) -> Any:
    return jnp.where(x >= 0, x, a.get("alpha", 0.01) * x)


def _selu(x: Any, a: Attrs) -> Any:
    from mlxa.ops.activations import SELU_ALPHA, SELU_GAMMA

    alpha, gamma = a.get("alpha", SELU_ALPHA), a.get("gamma", SELU_GAMMA)
    return gamma * jnp.where(x > 0, x, alpha * jnp.expm1(jnp.minimum(x, 0)))


def _shrink(x: Any, a: Attrs) -> Any:
    lambd, bias = a.get("lambd", 0.5), a.get("bias", 0.0)
    return jnp.where(x < -lambd, x + bias, jnp.where(x > lambd, x - bias, 0.0))


_ELEMENTWISE: dict[str, Callable[..., Any]] = {
    "add": lambda x, y, a: x + y,
    "sub": lambda x, y, a: x - y,
    "mul": lambda x, y, a: x * y,
    "div": lambda x, y, a: x / y,
    "pow": lambda x, y, a: jnp.power(x, y),
    "max": lambda x, y, a: jnp.maximum(x, y),
    "min": lambda x, y, a: jnp.minimum(x, y),
    "relu": lambda x, a: jnp.maximum(x, 0),
    "gelu": _gelu,
    "erf": lambda x, a: lax.erf(x),
    "sigmoid": lambda x, a: jax.nn.sigmoid(x),
    "silu": lambda x, a: jax.nn.silu(x),
    "tanh": lambda x, a: jnp.tanh(x),
    "clip": _clip,
    "hardsigmoid": _hardsigmoid,
    "hardswish": lambda x, a: x * jnp.clip(x / 6.0 + 0.5, 0.0, 1.0),
    "leaky_relu": _leaky_relu,
    "prelu": lambda x, slope, a: jnp.maximum(x, 0) + slope * jnp.minimum(x, 0),
    "sqrt": lambda x, a: jnp.sqrt(x),
    "neg": lambda x, a: -x,
    "exp": lambda x, a: jnp.exp(x),
    "log": lambda x, a: jnp.log(x),
    "abs": lambda x, a: jnp.abs(x),
    "reciprocal": lambda x, a: 1.0 / x,
    "elu": lambda x, a: jnp.where(x > 0, x, a.get("alpha", 1.0) * jnp.expm1(jnp.minimum(x, 0))),
    "selu": _selu,
    "softplus": lambda x, a: jax.nn.softplus(x),
    "shrink": _shrink,
    "sign": lambda x, a: jnp.sign(x),
    "cos": lambda x, a: jnp.cos(x),
    "sin": lambda x, a: jnp.sin(x),
    "floor": lambda x, a: jnp.floor(x),
    "ceil": lambda x, a: jnp.ceil(x),
    "round": lambda x, a: jnp.round(x),
    **{name: (lambda fn: lambda x, a: fn(x))(getattr(jnp, fn_name)) for name, fn_name in (
        ("tan", "tan"), ("asin", "arcsin"), ("acos", "arccos"), ("atan", "arctan"),
        ("sinh", "sinh"), ("cosh", "cosh"), ("asinh", "arcsinh"), ("acosh", "arccosh"),
        ("atanh", "arctanh"))},
}

_LOGIC: dict[str, Callable[..., Any]] = {
    "cast": lambda x, a: x.astype(np.dtype(a["to"])),
    "equal": lambda x, y, a: x == y,
    "less": lambda x, y, a: x < y,
    "greater": lambda x, y, a: x > y,
    "less_equal": lambda x, y, a: x <= y,
    "greater_equal": lambda x, y, a: x >= y,
    "not": lambda x, a: jnp.logical_not(x),
    "and": lambda x, y, a: jnp.logical_and(x, y),
    "or": lambda x, y, a: jnp.logical_or(x, y),
    "where": lambda c, x, y, a: jnp.where(c, x, y),
    "isnan": lambda x, a: jnp.isnan(x),
}


def _fused(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    prev = None
    for op, operands, items in attrs["steps"]:
        step_args = [prev if k < 0 else args[k] for k in operands]
        prev = _ELEMENTWISE[op](*step_args, dict(items))
    return prev


# -- linear algebra, convolution, normalisation --------------------------------------------------

def _matmul(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    return jnp.matmul(args[0], args[1], precision=HIGHEST)


def _gemm(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    a = args[0].T if attrs.get("transA", 0) else args[0]
    b = args[1].T if attrs.get("transB", 0) else args[1]
    y = attrs.get("alpha", 1.0) * jnp.matmul(a, b, precision=HIGHEST)
    return y + attrs.get("beta", 1.0) * args[2] if len(args) == 3 else y


def _conv(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    x, w = args[0], args[1]
    win = window(x.shape[2], x.shape[3], w.shape[2], w.shape[3], attrs)
    y = lax.conv_general_dilated(
        x, w, window_strides=win.strides, padding=_spatial_pads(win),
        rhs_dilation=win.dilations, dimension_numbers=("NCHW", "OIHW", "NCHW"),
        feature_group_count=int(attrs.get("group", 1)), precision=HIGHEST)
    return y + args[2].reshape(1, -1, 1, 1) if len(args) == 3 else y


def _batch_norm(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    x, scale, bias, mean, var = args
    per_channel = (-1,) + (1,) * (x.ndim - 2)
    s = scale / jnp.sqrt(var + attrs.get("epsilon", 1e-5))
    return x * s.reshape(per_channel) + (bias - mean * s).reshape(per_channel)


def _layer_norm(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    x = args[0]
    axes = tuple(range(int(attrs.get("axis", -1)) % x.ndim, x.ndim))
    mean = jnp.mean(x, axis=axes, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)
    y = (x - mean) / jnp.sqrt(var + attrs.get("epsilon", 1e-5)) * args[1]
    return y + args[2] if len(args) == 3 else y


# -- pooling -------------------------------------------------------------------------------------

def _spatial_pads(win: Window) -> tuple[tuple[int, int], tuple[int, int]]:
    """(begin, end) per spatial axis, the end extended to reach every window (ceil_mode)."""
    top, left = win.pads[0], win.pads[1]
    return (top, win.padded_h - win.h - top), (left, win.padded_w - win.w - left)


def _pool_window(x: Any, attrs: Attrs) -> tuple[Window, dict[str, Any]]:
    kh, kw = pair(attrs, "kernel_shape", 0)
    win = window(x.shape[2], x.shape[3], kh, kw, attrs, bool(attrs.get("ceil_mode", 0)))
    spec = dict(window_dimensions=(1, 1, kh, kw), window_strides=(1, 1, *win.strides),
                padding=((0, 0), (0, 0), *_spatial_pads(win)),
                window_dilation=(1, 1, *win.dilations))
    return win, spec


def _max_pool(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    x = args[0]
    _, spec = _pool_window(x, attrs)
    return lax.reduce_window(x, -jnp.inf, lax.max, **spec)


def _avg_pool(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    """Window sums over how many elements each window averages: real input elements, plus the
    explicit pads with count_include_pad; the extra end padding of ceil_mode never counts."""
    x = args[0]
    win, spec = _pool_window(x, attrs)
    include = bool(attrs.get("count_include_pad", 0))
    rows = _counted(win.padded_h, win.pads[0], win.h, win.pads[2], include)
    cols = _counted(win.padded_w, win.pads[1], win.w, win.pads[3], include)
    mask = np.outer(rows, cols).astype(np.float32)[None, None]
    no_pad = {**spec, "padding": ((0, 0),) * 4}
    counts = lax.reduce_window(jnp.asarray(mask), 0.0, lax.add, **no_pad)
    return lax.reduce_window(x, 0.0, lax.add, **spec) / jnp.maximum(counts, 1.0)


def _counted(padded: int, begin: int, size: int, end: int, include_pad: bool) -> np.ndarray:
    """Which positions of a padded axis count towards an average."""
    i = np.arange(padded)
    return (i < begin + size + end) if include_pad else (i >= begin) & (i < begin + size)


def _global_avg_pool(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    x = args[0]
    return jnp.mean(x, axis=tuple(range(2, x.ndim)), keepdims=True)


# -- softmax, reductions -------------------------------------------------------------------------

def _reduction(fn: Callable[..., Any]) -> Rule:
    def rule(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
        x = args[0]
        return fn(x, axis=reduce_axes(attrs, x.ndim), keepdims=bool(attrs.get("keepdims", 1)))
    return rule


def _argmax(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    x = args[0]
    return jnp.argmax(x, axis=int(attrs.get("axis", 0)), keepdims=bool(attrs.get("keepdims", 1)))


# -- shape and indexing --------------------------------------------------------------------------

def _reshape(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    return jnp.reshape(args[0], outs[0].shape)


def _transpose(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    x = args[0]
    return jnp.transpose(x, attrs.get("perm") or tuple(range(x.ndim - 1, -1, -1)))


def _split(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    x = args[0]
    cuts = np.cumsum(attrs["sizes"])[:-1].tolist()
    return tuple(jnp.split(x, cuts, axis=int(attrs.get("axis", 0))))


def _pad(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    """Negative pads crop first; the rest pads in numpy's mode of the same name."""
    x = args[0]
    pads = [int(p) for p in attrs["pads"]]
    pairs = list(zip(pads[:x.ndim], pads[x.ndim:]))
    x = x[tuple(slice(max(-b, 0), d - max(-e, 0)) for d, (b, e) in zip(x.shape, pairs))]
    mode = attrs.get("mode", "constant")
    width = [(max(b, 0), max(e, 0)) for b, e in pairs]
    if mode == "constant":
        return jnp.pad(x, width, constant_values=attrs.get("value", 0))
    return jnp.pad(x, width, mode=mode)


_STRUCTURED: dict[str, Rule] = {
    "matmul": _matmul,
    "gemm": _gemm,
    "conv": _conv,
    "batch_norm": _batch_norm,
    "layer_norm": _layer_norm,
    "softmax": lambda args, a, o: jax.nn.softmax(args[0], axis=int(a.get("axis", -1))),
    "log_softmax": lambda args, a, o: jax.nn.log_softmax(args[0], axis=int(a.get("axis", -1))),
    "max_pool": _max_pool,
    "avg_pool": _avg_pool,
    "global_avg_pool": _global_avg_pool,
    "reduce_sum": _reduction(jnp.sum),
    "reduce_mean": _reduction(jnp.mean),
    "reduce_max": _reduction(jnp.max),
    "reduce_min": _reduction(jnp.min),
    "argmax": _argmax,
    **{name: _reshape for name in ("reshape", "flatten", "squeeze", "unsqueeze", "identity")},
    "transpose": _transpose,
    "expand": lambda args, a, o: jnp.broadcast_to(args[0], o[0].shape),
    "concat": lambda args, a, o: jnp.concatenate(args, axis=int(a["axis"])),
    "split": _split,
    "slice": lambda args, a, o: args[0][slices(args[0].shape, a)],
    "gather": lambda args, a, o: jnp.take(args[0], args[1], axis=int(a.get("axis", 0)),
                                          mode="wrap"),
    "pad": _pad,
}


# -- ops along an axis, local normalisations -------------------------------------------------------

def _cumsum(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    x = args[0]
    axis = int(attrs.get("axis", 0)) % max(x.ndim, 1)
    y = jnp.flip(x, axis) if attrs.get("reverse", 0) else x
    y = jnp.cumsum(y, axis=axis, dtype=x.dtype)
    if attrs.get("exclusive", 0):
        y = y - (jnp.flip(x, axis) if attrs.get("reverse", 0) else x)
    return jnp.flip(y, axis) if attrs.get("reverse", 0) else y


def _gather_elements(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    x, idx = args
    axis = int(attrs.get("axis", 0)) % x.ndim
    idx = jnp.where(idx < 0, idx + x.shape[axis], idx)
    part = x[tuple(slice(None) if d == axis else slice(0, n) for d, n in enumerate(idx.shape))]
    return jnp.take_along_axis(part, idx, axis=axis)  # off the axis, indices may be shorter


def _instance_norm(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    x, scale, bias = args
    axes = tuple(range(2, x.ndim))
    mean = jnp.mean(x, axis=axes, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)
    per_channel = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - mean) / jnp.sqrt(var + attrs.get("epsilon", 1e-5))
    return y * scale.reshape(per_channel) + bias.reshape(per_channel)


def _lrn(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    x = args[0]
    size = int(attrs["size"])
    lo, hi = (size - 1) // 2, -(-(size - 1) // 2)
    sq = jnp.pad(jnp.square(x), ((0, 0), (lo, hi)) + ((0, 0),) * (x.ndim - 2))
    total = sum(sq[:, k:k + x.shape[1]] for k in range(size))
    scale = attrs.get("bias", 1.0) + attrs.get("alpha", 1e-4) / size * total
    return x / scale ** attrs.get("beta", 0.75)


_STRUCTURED.update({"cumsum": _cumsum, "gather_elements": _gather_elements,
                    "instance_norm": _instance_norm, "lrn": _lrn})


# The layout ops (nhwc, nchwc): each the nchw rule above between relayouts.
from mlxa.compare.xla_layout_rules import layout_rules  # noqa: E402

_STRUCTURED.update(layout_rules(_STRUCTURED))


# -- window ops over any number of spatial dims --------------------------------------------------

def _nd(attrs: Attrs, key: str, n: int, default: int) -> tuple[int, ...]:
    return tuple(int(v) for v in (attrs.get(key) or (default,) * n))


def _dimension_numbers(n: int) -> tuple[str, str, str]:
    letters = "DHW"[-n:] if n <= 3 else "".join(chr(ord("a") + k) for k in range(n))
    return "NC" + letters, "OI" + letters, "NC" + letters


def _conv_nd(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    x, w = args[0], args[1]
    n = x.ndim - 2
    pads = _nd(attrs, "pads", 2 * n, 0)
    y = lax.conv_general_dilated(
        x, w, window_strides=_nd(attrs, "strides", n, 1),
        padding=tuple(zip(pads[:n], pads[n:])), rhs_dilation=_nd(attrs, "dilations", n, 1),
        dimension_numbers=_dimension_numbers(n), feature_group_count=int(attrs.get("group", 1)),
        precision=HIGHEST)
    return y + args[2].reshape((1, -1) + (1,) * n) if len(args) == 3 else y


def _conv_transpose(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    """A convolution of the input dilated by the strides with the kernel flipped, in and out
    channels swapped per group; padding (k - 1) d - pad each side, output_padding at the end."""
    x, w = args[0], args[1]
    n, g = x.ndim - 2, int(attrs.get("group", 1))
    strides, dil = _nd(attrs, "strides", n, 1), _nd(attrs, "dilations", n, 1)
    pads, extra = _nd(attrs, "pads", 2 * n, 0), _nd(attrs, "output_padding", n, 0)
    c, o = w.shape[0], w.shape[1]
    wt = w.reshape((g, c // g, o) + w.shape[2:]).swapaxes(1, 2).reshape((g * o, c // g)
                                                                       + w.shape[2:])
    wt = jnp.flip(wt, axis=tuple(range(2, 2 + n)))
    padding = tuple(((k - 1) * d - b, (k - 1) * d - e + p) for k, d, b, e, p in
                    zip(w.shape[2:], dil, pads[:n], pads[n:], extra))
    y = lax.conv_general_dilated(x, wt, window_strides=(1,) * n, padding=padding,
                                 lhs_dilation=strides, rhs_dilation=dil,
                                 dimension_numbers=_dimension_numbers(n),
                                 feature_group_count=g, precision=HIGHEST)
    return y + args[2].reshape((1, -1) + (1,) * n) if len(args) == 3 else y


def _pool_nd_spec(x: Any, attrs: Attrs, outs: Sequence[Value]) -> dict[str, Any]:
    n = x.ndim - 2
    kernel, strides = _nd(attrs, "kernel_shape", n, 1), _nd(attrs, "strides", n, 1)
    dil, pads = _nd(attrs, "dilations", n, 1), _nd(attrs, "pads", 2 * n, 0)
    reach = [(o - 1) * s + (k - 1) * d + 1 for o, k, s, d in
             zip(outs[0].shape[2:], kernel, strides, dil)]
    ends = [max(e, r - size - b) for size, b, e, r in zip(x.shape[2:], pads[:n], pads[n:], reach)]
    return dict(window_dimensions=(1, 1, *kernel), window_strides=(1, 1, *strides),
                padding=((0, 0), (0, 0), *zip(pads[:n], ends)),
                window_dilation=(1, 1, *dil))


def _max_pool_nd(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    return lax.reduce_window(args[0], -jnp.inf, lax.max, **_pool_nd_spec(args[0], attrs, outs))


def _avg_pool_nd(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    x = args[0]
    n = x.ndim - 2
    spec = _pool_nd_spec(x, attrs, outs)
    pads = _nd(attrs, "pads", 2 * n, 0)
    ones = jnp.ones((1, 1) + x.shape[2:], x.dtype)
    if attrs.get("count_include_pad", 0):  # explicit pads count, the ceil extension does not
        ones = jnp.pad(ones, ((0, 0), (0, 0), *zip(pads[:n], pads[n:])), constant_values=1.0)
        spec_ones = {**spec, "padding": ((0, 0), (0, 0), *((0, e - p) for (b, e), p in
                                                            zip(spec["padding"][2:], pads[n:])))}
    else:
        spec_ones = spec
    counts = lax.reduce_window(ones, 0.0, lax.add, **spec_ones)
    return lax.reduce_window(x, 0.0, lax.add, **spec) / jnp.maximum(counts, 1.0)


_STRUCTURED.update({"conv_nd": _conv_nd, "conv_transpose": _conv_transpose,
                    "max_pool_nd": _max_pool_nd, "avg_pool_nd": _avg_pool_nd})


def _topk(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    x = args[0]
    axis = int(attrs.get("axis", -1)) % x.ndim
    moved = jnp.moveaxis(x, axis, -1)
    key = moved if attrs.get("largest", 1) else -moved
    _, indices = lax.top_k(key, int(attrs["k"]))
    values = jnp.take_along_axis(moved, indices, axis=-1)
    return jnp.moveaxis(values, -1, axis), jnp.moveaxis(indices.astype(jnp.int64), -1, axis)


_STRUCTURED["topk"] = _topk


def _index_tuple(idx: Any, dims: Sequence[int]) -> tuple[Any, ...]:
    dims_arr = jnp.asarray(dims)
    idx = jnp.where(idx < 0, idx + dims_arr, idx)
    return tuple(jnp.moveaxis(idx, -1, 0))


def _scatter_at(out: Any, where: tuple[Any, ...], updates: Any, reduction: str) -> Any:
    ref = out.at[where]
    return {"none": ref.set, "add": ref.add, "mul": ref.multiply, "max": ref.max,
            "min": ref.min}[reduction](updates)


def _gather_nd(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    x, idx = args
    return x[_index_tuple(idx, x.shape[:idx.shape[-1]])]


def _scatter_nd(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    x, idx, updates = args
    where = _index_tuple(idx, x.shape[:idx.shape[-1]])
    return _scatter_at(x, where, updates, attrs.get("reduction", "none"))


def _scatter_elements(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
    x, idx, updates = args
    axis = int(attrs.get("axis", 0)) % x.ndim
    where = list(jnp.indices(idx.shape, sparse=True))
    where[axis] = jnp.where(idx < 0, idx + x.shape[axis], idx)
    return _scatter_at(x, tuple(where), updates, attrs.get("reduction", "none"))


_STRUCTURED.update({"gather_nd": _gather_nd, "scatter_nd": _scatter_nd,
                    "scatter_elements": _scatter_elements})

from mlxa.compare.xla_quant_rules import RULES as QUANT_RULES  # noqa: E402

_STRUCTURED.update(QUANT_RULES)
