"""The quantized ops' ONNX export: quantize_linear and dequantize_linear as QuantizeLinear and
DequantizeLinear (the QDQ form, which ONNX Runtime fuses into its integer kernels), qlinear_conv
and qlinear_matmul as QLinearConv and QLinearMatMul (the integer form), qlinear_add as its QDQ
form (DQ, DQ, Add, Q: ONNX Runtime's QLinearAdd lives outside the standard domain).

What ONNX cannot say: the `rounding` attribute (ONNX Runtime always rounds as "float" does), and a
qlinear_matmul bias (QLinearMatMul has none): that one is written as a 1x1 QLinearConv over
[M, K, 1, 1], which has the same integer arithmetic and takes an int32 bias. A clamp tighter than
the 8-bit range (a fused relu6) becomes Max/Min on the 8-bit output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from mlxa.ir.graph import TensorType

Attrs = Mapping[str, Any]
Export = Callable[[Any, list[str], list[TensorType], list[str], Attrs], None]
# onnx_export_ops merges these into EXPORTERS (imports go that one way: no cycle)
QUANT_EXPORTERS: dict[str, Export] = {}


def exports(op: str) -> Callable[[Export], Export]:
    def register(fn: Export) -> Export:
        QUANT_EXPORTERS[op] = fn
        return fn
    return register


@exports("quantize_linear")
def _quantize(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
              attrs: Attrs) -> None:
    ex.node("QuantizeLinear", ins, outs, axis=int(attrs.get("axis", 1)))


@exports("dequantize_linear")
def _dequantize(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
                attrs: Attrs) -> None:
    ex.node("DequantizeLinear", ins, outs, axis=int(attrs.get("axis", 1)))


def _clamped(ex: Any, out_type: np.dtype, out: str, attrs: Attrs) -> tuple[str, list[Any]]:
    """The name the integer node should write, and the Max/Min steps to append after it."""
    info = np.iinfo(out_type)
    lo = int(attrs.get("act_min", info.min))
    hi = int(attrs.get("act_max", info.max))
    steps = [(op, bound) for op, bound, trivial in (("Max", lo, info.min), ("Min", hi, info.max))
             if bound != trivial]
    return (ex.fresh("qacc") if steps else out), steps


def _clamp(ex: Any, src: str, out: str, out_type: np.dtype, steps: list[Any]) -> None:
    for k, (op, bound) in enumerate(steps):
        dst = out if k == len(steps) - 1 else ex.fresh("qclamp")
        ex.node(op, [src, ex.const(np.array(bound, out_type))], [dst])
        src = dst


@exports("qlinear_conv")
def _qconv(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
           attrs: Attrs) -> None:
    out_type = types[7].dtype
    from mlxa.frontends.onnx_export_ops import _window  # conv's window attributes, one rule

    target, steps = _clamped(ex, out_type, outs[0], attrs)
    ex.node("QLinearConv", ins, [target], kernel_shape=list(types[3].shape[2:]),
            **_window(attrs), group=int(attrs.get("group", 1)))
    _clamp(ex, target, outs[0], out_type, steps)


@exports("qlinear_matmul")
def _qmatmul(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
             attrs: Attrs) -> None:
    out_type = types[7].dtype
    target, steps = _clamped(ex, out_type, outs[0], attrs)
    if len(ins) == 8:
        ex.node("QLinearMatMul", ins, [target])
    else:  # with a bias: a 1x1 QLinearConv over [M, K, 1, 1]
        (m, k), n = types[0].shape, types[3].shape[1]
        a4, w_t, w4, y4 = (ex.fresh(h) for h in ("qa4", "qwt", "qw4", "qy4"))
        ex.node("Reshape", [ins[0], ex.const([m, k, 1, 1], np.int64)], [a4])
        ex.node("Transpose", [ins[3]], [w_t], perm=[1, 0])
        ex.node("Reshape", [w_t, ex.const([n, k, 1, 1], np.int64)], [w4])
        ex.node("QLinearConv", [a4, *ins[1:3], w4, *ins[4:9]], [y4], kernel_shape=[1, 1])
        ex.node("Reshape", [y4, ex.const([m, n], np.int64)], [target])
    _clamp(ex, target, outs[0], out_type, steps)


@exports("qlinear_add")
def _qadd(ex: Any, ins: list[str], types: list[TensorType], outs: list[str],
          attrs: Attrs) -> None:
    """As the QDQ form (ONNX Runtime fuses it into its QLinearAdd): DQ, DQ, Add, Q."""
    out_type = types[7].dtype
    target, steps = _clamped(ex, out_type, outs[0], attrs)
    a, b, total = ex.fresh("qadd_a"), ex.fresh("qadd_b"), ex.fresh("qadd_sum")
    ex.node("DequantizeLinear", ins[0:3], [a])
    ex.node("DequantizeLinear", ins[3:6], [b])
    ex.node("Add", [a, b], [total])
    ex.node("QuantizeLinear", [total, *ins[6:8]], [target])
    _clamp(ex, target, outs[0], out_type, steps)
