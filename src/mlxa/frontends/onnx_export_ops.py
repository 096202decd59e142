"""IR op -> ONNX node(s): the exporter's table (`EXPORTERS`).

An exporter is `fn(ex, ins, in_types, outs, attrs)`: it appends ONNX nodes reading the names
`ins` (of types `in_types`) and defining `outs`, through `ex.node` and `ex.const`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from mlxa.errors import UnsupportedOpError
from mlxa.frontends.onnx_export_quant import QUANT_EXPORTERS
from mlxa.ir.graph import TensorType
from mlxa.ops.elementwise import GELU_C, SQRT_2_OVER_PI

Attrs = Mapping[str, Any]
Export = Callable[[Any, list[str], list[TensorType], list[str], Attrs], None]
EXPORTERS: dict[str, Export] = dict(QUANT_EXPORTERS)  # quantize/dequantize and qlinear_*

SIMPLE = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "erf": "Erf", "sqrt": "Sqrt",
          "neg": "Neg", "exp": "Exp", "log": "Log", "abs": "Abs", "reciprocal": "Reciprocal",
          "hardswish": "HardSwish", "not": "Not", "add": "Add", "sub": "Sub", "mul": "Mul",
          "div": "Div", "pow": "Pow", "max": "Max", "min": "Min", "prelu": "PRelu",
          "equal": "Equal", "less": "Less", "greater": "Greater", "less_equal": "LessOrEqual",
          "greater_equal": "GreaterOrEqual", "and": "And", "or": "Or", "matmul": "MatMul",
          "where": "Where", "identity": "Identity", "global_avg_pool": "GlobalAveragePool",
          "batch_norm": "BatchNormalization", "gemm": "Gemm", "softmax": "Softmax",
          "log_softmax": "LogSoftmax", "layer_norm": "LayerNormalization",
          "flatten": "Flatten", "transpose": "Transpose", "concat": "Concat",
          "gather": "Gather", "argmax": "ArgMax", "hardsigmoid": "HardSigmoid",
          "leaky_relu": "LeakyRelu"}
ATTRS = {"batch_norm": ("epsilon",), "gemm": ("transA", "transB", "alpha", "beta"),
         "softmax": ("axis",), "log_softmax": ("axis",), "layer_norm": ("axis", "epsilon"),
         "flatten": ("axis",), "transpose": ("perm",), "concat": ("axis",), "gather": ("axis",),
         "argmax": ("axis", "keepdims"), "hardsigmoid": ("alpha", "beta"),
         "leaky_relu": ("alpha",)}


def exports(*ops: str) -> Callable[[Export], Export]:
    def register(fn: Export) -> Export:
        for op in ops:
            EXPORTERS[op] = fn
        return fn
    return register


def _simple(op_type: str, keys: Sequence[str]) -> Export:
    def export(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
               attrs: Attrs) -> None:
        ex.node(op_type, ins, outs, **{k: _plain(attrs[k]) for k in keys if k in attrs})
    return export


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


for _ir, _onnx in SIMPLE.items():
    EXPORTERS[_ir] = _simple(_onnx, ATTRS.get(_ir, ()))


@exports("gelu")
def _gelu(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
          attrs: Attrs) -> None:
    approximate = attrs.get("approximate", "none")
    if ex.opset >= 20:
        ex.node("Gelu", ins, outs, approximate=approximate)
        return
    x, dtype = ins[0], types[0].dtype
    if approximate == "tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2)))
        inner = _chain(ex, dtype, x, [("Mul", x), ("Mul", GELU_C), ("Add", 1.0), ("Mul", x),
                                      ("Mul", SQRT_2_OVER_PI), ("Tanh", None)])
    else:  # 0.5 x (1 + erf(x / sqrt 2))
        inner = _chain(ex, dtype, x, [("Mul", 1.0 / math.sqrt(2.0)), ("Erf", None)])
    _chain(ex, dtype, inner, [("Add", 1.0), ("Mul", x), ("Mul", 0.5)], outs[0])


def _chain(ex: Any, dtype: np.dtype, x: str, steps: list[tuple[str, Any]],
           out: str | None = None) -> str:
    """Apply (op, operand) steps to x in turn; a number operand becomes a scalar constant."""
    for k, (op, operand) in enumerate(steps):
        name = out if out is not None and k == len(steps) - 1 else ex.fresh("gelu")
        args = [x] if operand is None else [x, operand if isinstance(operand, str)
                                            else ex.const(operand, dtype)]
        ex.node(op, args, [name])
        x = name
    return x


@exports("silu")
def _silu(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
          attrs: Attrs) -> None:
    s = ex.fresh("sigmoid")
    ex.node("Sigmoid", ins, [s])
    ex.node("Mul", [ins[0], s], outs)


@exports("clip")
def _clip(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
          attrs: Attrs) -> None:
    bounds = ["" if attrs.get(k) is None else ex.const(attrs[k], types[0].dtype)
              for k in ("min", "max")]
    ex.node("Clip", [ins[0], *bounds], outs)


@exports("conv")
def _conv(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
          attrs: Attrs) -> None:
    ex.node("Conv", ins, outs, kernel_shape=list(types[1].shape[2:]), **_window(attrs),
            group=int(attrs.get("group", 1)))


def _window(attrs: Attrs) -> dict[str, list[int]]:
    return {"strides": list(attrs.get("strides", (1, 1))),
            "pads": list(attrs.get("pads", (0, 0, 0, 0))),
            "dilations": list(attrs.get("dilations", (1, 1)))}


def _pool(op_type: str) -> Export:
    def export(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
               attrs: Attrs) -> None:
        extra: dict[str, Any] = dict(_window(attrs))
        extra["ceil_mode"] = int(attrs.get("ceil_mode", 0))
        if op_type == "AveragePool":
            extra["count_include_pad"] = int(attrs.get("count_include_pad", 0))
            if ex.opset < 19 and set(extra.pop("dilations")) != {1}:
                raise UnsupportedOpError(f"avg_pool with dilations needs opset 19, "
                                         f"not {ex.opset}")
        ex.node(op_type, ins, outs, kernel_shape=list(attrs["kernel_shape"]), **extra)
    return export


EXPORTERS["max_pool"] = _pool("MaxPool")
EXPORTERS["avg_pool"] = _pool("AveragePool")


def _axes_input(ex: Any, op_type: str, ins: list[str], outs: list[str], axes: Any,
                since: int, **attrs: Any) -> None:
    """Ops whose axes moved from an attribute to an input at opset `since`."""
    if axes is None:
        ex.node(op_type, ins, outs, **attrs)
    elif ex.opset >= since:
        ex.node(op_type, [*ins, ex.const(list(axes), np.int64)], outs, **attrs)
    else:
        ex.node(op_type, ins, outs, axes=list(axes), **attrs)


def _reduce(op_type: str) -> Export:
    def export(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
               attrs: Attrs) -> None:
        axes = attrs.get("axes") or tuple(range(len(types[0].shape)))
        since = 13 if op_type == "ReduceSum" else 18
        _axes_input(ex, op_type, ins, outs, axes, since, keepdims=int(attrs.get("keepdims", 1)))
    return export


for _ir, _onnx in {"reduce_sum": "ReduceSum", "reduce_mean": "ReduceMean",
                   "reduce_max": "ReduceMax", "reduce_min": "ReduceMin"}.items():
    EXPORTERS[_ir] = _reduce(_onnx)


def _axes_op(op_type: str) -> Export:
    def export(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
               attrs: Attrs) -> None:
        axes = attrs.get("axes")
        _axes_input(ex, op_type, ins, outs, tuple(axes) if axes else None, 13)
    return export


EXPORTERS["squeeze"] = _axes_op("Squeeze")
EXPORTERS["unsqueeze"] = _axes_op("Unsqueeze")


@exports("reshape")
def _reshape(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
             attrs: Attrs) -> None:
    shape = [int(d) for d in attrs["shape"]]
    ex.node("Reshape", [ins[0], ex.const(shape, np.int64)], outs,
            **({"allowzero": 1} if 0 in shape else {}))


@exports("expand")
def _expand(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
            attrs: Attrs) -> None:
    ex.node("Expand", [ins[0], ex.const([int(d) for d in attrs["shape"]], np.int64)], outs)


@exports("split")
def _split(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
           attrs: Attrs) -> None:
    ex.node("Split", [ins[0], ex.const(list(attrs["sizes"]), np.int64)], outs,
            axis=int(attrs.get("axis", 0)))


@exports("slice")
def _slice(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
           attrs: Attrs) -> None:
    n = len(attrs["starts"])
    parts = [attrs["starts"], attrs["ends"], attrs.get("axes") or range(n),
             attrs.get("steps") or (1,) * n]
    ex.node("Slice", [ins[0], *(ex.const(list(p), np.int64) for p in parts)], outs)


@exports("pad")
def _pad(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
         attrs: Attrs) -> None:
    mode = attrs.get("mode", "constant")
    if mode == "wrap" and ex.opset < 19:
        raise UnsupportedOpError(f"pad mode 'wrap' needs opset 19, not {ex.opset}")
    value = ex.const(attrs.get("value", 0), types[0].dtype)
    ex.node("Pad", [ins[0], ex.const(list(attrs["pads"]), np.int64), value], outs, mode=mode)


@exports("cast")
def _cast(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
          attrs: Attrs) -> None:
    from onnx import helper

    ex.node("Cast", ins, outs, to=helper.np_dtype_to_tensor_dtype(np.dtype(attrs["to"])))


# -- more elementwise ops, one ONNX node each ------------------------------------------------------

for _ir, (_onnx, _keys) in {"elu": ("Elu", ("alpha",)), "selu": ("Selu", ("alpha", "gamma")),
                            "softplus": ("Softplus", ()), "shrink": ("Shrink", ("lambd", "bias")),
                            "sign": ("Sign", ()), "cos": ("Cos", ()), "sin": ("Sin", ()),
                            "isnan": ("IsNaN", ()), "floor": ("Floor", ()), "ceil": ("Ceil", ()),
                            "round": ("Round", ())}.items():
    EXPORTERS[_ir] = _simple(_onnx, _keys)
for _ir in ("tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh"):
    EXPORTERS[_ir] = _simple(_ir.capitalize(), ())


for _ir, (_onnx, _keys) in {"instance_norm": ("InstanceNormalization", ("epsilon",)),
                            "lrn": ("LRN", ("size", "alpha", "beta", "bias")),
                            "gather_elements": ("GatherElements", ("axis",))}.items():
    EXPORTERS[_ir] = _simple(_onnx, _keys)


@exports("cumsum")
def _cumsum(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
            attrs: Attrs) -> None:
    ex.node("CumSum", [ins[0], ex.const(int(attrs.get("axis", 0)), np.int64)], outs,
            exclusive=int(attrs.get("exclusive", 0)), reverse=int(attrs.get("reverse", 0)))


def _nd_window(attrs: Attrs, n: int) -> dict[str, list[int]]:
    return {"strides": list(attrs.get("strides") or (1,) * n),
            "pads": list(attrs.get("pads") or (0,) * 2 * n),
            "dilations": list(attrs.get("dilations") or (1,) * n)}


@exports("conv_nd")
def _conv_nd(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
             attrs: Attrs) -> None:
    n = len(types[1].shape) - 2
    ex.node("Conv", ins, outs, kernel_shape=list(types[1].shape[2:]), **_nd_window(attrs, n),
            group=int(attrs.get("group", 1)))


def _pool_nd(op_type: str) -> Export:
    def export(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
               attrs: Attrs) -> None:
        extra: dict[str, Any] = _nd_window(attrs, len(types[0].shape) - 2)
        extra["ceil_mode"] = int(attrs.get("ceil_mode", 0))
        if op_type == "AveragePool":
            extra["count_include_pad"] = int(attrs.get("count_include_pad", 0))
            if ex.opset < 19 and set(extra.pop("dilations")) != {1}:
                raise UnsupportedOpError(f"avg_pool_nd with dilations needs opset 19, "
                                         f"not {ex.opset}")
        ex.node(op_type, ins, outs, kernel_shape=list(attrs["kernel_shape"]), **extra)
    return export


EXPORTERS["max_pool_nd"] = _pool_nd("MaxPool")
EXPORTERS["avg_pool_nd"] = _pool_nd("AveragePool")


@exports("conv_transpose")
def _conv_transpose(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
                    attrs: Attrs) -> None:
    n = len(types[1].shape) - 2
    ex.node("ConvTranspose", ins, outs, kernel_shape=list(types[1].shape[2:]),
            **_nd_window(attrs, n), group=int(attrs.get("group", 1)),
            output_padding=list(attrs.get("output_padding") or (0,) * n))



@exports("topk")
def _topk(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
          attrs: Attrs) -> None:
    ex.node("TopK", [ins[0], ex.const([int(attrs["k"])], np.int64)], outs,
            axis=int(attrs.get("axis", -1)), largest=int(attrs.get("largest", 1)), sorted=1)


for _ir, (_onnx, _keys) in {"gather_nd": ("GatherND", ()),
                            "scatter_nd": ("ScatterND", ("reduction",)),
                            "scatter_elements": ("ScatterElements", ("axis", "reduction"))
                            }.items():
    EXPORTERS[_ir] = _simple(_onnx, _keys)
