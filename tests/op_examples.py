"""One small example per op of the op table: its input arrays and attributes. The contract tests
(test_ops_contract.py) run every op on its example; an op registered without one fails them, so
add its example here when you add an op."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mlxa.ops.fused import make_step

RNG = np.random.default_rng(11)
Example = tuple[tuple[np.ndarray, ...], dict[str, Any]]


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def positive(*shape: int) -> np.ndarray:
    return (np.abs(f32(*shape)) + 0.5).astype(np.float32)


def mask(*shape: int) -> np.ndarray:
    return RNG.random(shape) < 0.5


def _unary(op: str, **attrs: Any) -> tuple[str, Callable[[], Example]]:
    return op, lambda: ((f32(2, 3, 5),), attrs)


def _binary(op: str) -> tuple[str, Callable[[], Example]]:
    return op, lambda: ((f32(2, 3, 5), f32(3, 1)), {})  # broadcast


def _compare(op: str) -> tuple[str, Callable[[], Example]]:
    return op, lambda: ((f32(2, 4), f32(4)), {})


def _reduce(op: str) -> tuple[str, Callable[[], Example]]:
    return op, lambda: ((f32(2, 3, 4),), {"axes": (1,), "keepdims": 0})


EXAMPLES: dict[str, Callable[[], Example]] = dict([
    ("conv", lambda: ((f32(1, 4, 6, 6), f32(6, 2, 3, 3), f32(6)),
                      {"group": 2, "strides": (2, 1), "pads": (1, 1, 0, 1)})),
    *(_binary(op) for op in ("add", "sub", "mul", "max", "min")),
    ("div", lambda: ((f32(2, 3, 5), positive(5)), {})),
    ("pow", lambda: ((positive(2, 3), f32(3)), {})),
    ("prelu", lambda: ((f32(2, 3, 4, 4), f32(3, 1, 1)), {})),
    *(_unary(op) for op in ("relu", "erf", "sigmoid", "silu", "tanh", "hardswish", "neg",
                            "exp", "abs")),
    _unary("gelu", approximate="tanh"),
    _unary("clip", min=-0.5, max=0.5),
    _unary("hardsigmoid", alpha=0.2, beta=0.5),
    _unary("leaky_relu", alpha=0.1),
    ("sqrt", lambda: ((positive(2, 3),), {})),
    ("log", lambda: ((positive(2, 3),), {})),
    ("reciprocal", lambda: ((positive(2, 3),), {})),
    ("fused", lambda: ((f32(4, 8), f32(8)),
                       {"steps": (make_step("add", (0, 1), {}), make_step("relu", (-1,), {}),
                                  make_step("mul", (-1, 1), {}))})),
    ("reshape", lambda: ((f32(2, 3, 4),), {"shape": (6, -1)})),
    ("flatten", lambda: ((f32(2, 3, 4, 5),), {"axis": 2})),
    ("squeeze", lambda: ((f32(1, 3, 1),), {"axes": (-1,)})),
    ("unsqueeze", lambda: ((f32(3, 4),), {"axes": (0, 3)})),
    ("identity", lambda: ((f32(3, 4),), {})),
    ("transpose", lambda: ((f32(2, 3, 4),), {"perm": (2, 0, 1)})),
    ("expand", lambda: ((f32(3, 1),), {"shape": (2, 1, 4)})),
    ("concat", lambda: ((f32(2, 3), f32(2, 5)), {"axis": -1})),
    ("split", lambda: ((f32(4, 10),), {"axis": 1, "sizes": (2, 3, 5)})),
    ("slice", lambda: ((f32(10, 8),), {"starts": (-3, 1), "ends": (100, 7), "axes": (0, 1),
                                       "steps": (1, 3)})),
    ("gather", lambda: ((f32(5, 7), np.array([[0, -1, 3], [6, 2, 2]], np.int64)), {"axis": 1})),
    ("pad", lambda: ((f32(2, 3, 4),), {"pads": (0, 1, 2, 0, 1, 1), "mode": "reflect"})),
    ("matmul", lambda: ((f32(2, 3, 4), f32(4, 5)), {})),
    ("gemm", lambda: ((f32(4, 3), f32(5, 4), f32(5)),
                      {"transA": 1, "transB": 1, "alpha": 0.5, "beta": 2.0})),
    ("cast", lambda: ((f32(2, 3) * 10,), {"to": "int32"})),
    *(_compare(op) for op in ("equal", "less", "greater", "less_equal", "greater_equal")),
    ("not", lambda: ((mask(2, 3),), {})),
    ("and", lambda: ((mask(2, 3), mask(3)), {})),
    ("or", lambda: ((mask(2, 3), mask(2, 1)), {})),
    ("where", lambda: ((mask(2, 3), f32(2, 3), f32(3)), {})),
    ("batch_norm", lambda: ((f32(2, 3, 4, 4), f32(3), f32(3), f32(3), positive(3)),
                            {"epsilon": 1e-3})),
    ("softmax", lambda: ((f32(2, 3, 5),), {"axis": 1})),
    ("log_softmax", lambda: ((f32(2, 3, 5),), {"axis": -1})),
    ("layer_norm", lambda: ((f32(2, 5, 8), f32(8), f32(8)), {})),
    ("max_pool", lambda: ((f32(1, 2, 7, 7),), {"kernel_shape": (3, 3), "strides": (2, 2),
                                              "pads": (1, 1, 1, 1), "ceil_mode": 1})),
    ("avg_pool", lambda: ((f32(1, 2, 6, 6),), {"kernel_shape": (3, 3), "strides": (2, 2),
                                              "pads": (1, 1, 1, 1)})),
    ("global_avg_pool", lambda: ((f32(2, 3, 5, 4),), {})),
    *(_reduce(op) for op in ("reduce_sum", "reduce_mean", "reduce_max", "reduce_min")),
    ("argmax", lambda: ((f32(3, 5),), {"axis": 1, "keepdims": 0})),
    *(_unary(op) for op in ("softplus", "sign", "cos", "sin")),
    *(_unary(op) for op in ("floor", "ceil", "tan", "atan", "sinh", "cosh", "asinh")),
    *((op, lambda: ((np.tanh(f32(2, 3)),), {})) for op in ("asin", "acos", "atanh")),
    ("acosh", lambda: ((positive(2, 3) + 1.0,), {})),
    ("round", lambda: ((np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.4, 2.6], np.float32),), {})),
    _unary("elu", alpha=0.7),
    _unary("selu"),
    _unary("shrink", lambd=0.3, bias=0.1),
    ("isnan", lambda: ((np.array([0.0, np.nan, np.inf, -1.0], np.float32),), {})),
    ("cumsum", lambda: ((f32(3, 5),), {"axis": 1, "exclusive": 1, "reverse": 1})),
    ("gather_elements", lambda: ((f32(4, 5), np.array([[0, -1, 3], [3, 2, 1]], np.int64)),
                                 {"axis": 0})),
    ("instance_norm", lambda: ((f32(2, 3, 4, 5), f32(3), f32(3)), {"epsilon": 1e-3})),
    ("lrn", lambda: ((f32(2, 6, 3, 3),), {"size": 3, "alpha": 1e-3, "beta": 0.75, "bias": 2.0})),
    ("topk", lambda: ((np.array([[3, 1, 3, 2, 0], [5, 5, 1, 1, 2]], np.float32),),
                      {"k": 3, "axis": 1, "largest": 1})),
    ("gather_nd", lambda: ((f32(3, 4, 5), np.array([[0, 1], [2, -1]], np.int64)), {})),
    ("scatter_nd", lambda: ((f32(4, 3), np.array([[1], [3]], np.int64), f32(2, 3)),
                            {"reduction": "add"})),
    ("scatter_elements", lambda: ((f32(3, 4), np.array([[1, 0, 2, -1]], np.int64),
                                   f32(1, 4)), {"axis": 0})),
    ("conv_nd", lambda: ((f32(1, 4, 5, 5, 5), f32(6, 2, 3, 3, 3), f32(6)),
                         {"group": 2, "strides": (2, 1, 1), "pads": (1, 0, 1, 1, 1, 0)})),
    ("max_pool_nd", lambda: ((f32(1, 2, 5, 6, 7),), {"kernel_shape": (2, 3, 3),
                                                    "strides": (2, 2, 2),
                                                    "pads": (0, 1, 1, 0, 1, 1),
                                                    "ceil_mode": 1})),
    ("avg_pool_nd", lambda: ((f32(1, 2, 5, 6, 5),), {"kernel_shape": (3, 3, 3),
                                                    "strides": (2, 2, 2),
                                                    "pads": (1, 1, 1, 1, 1, 1)})),
    ("conv_transpose", lambda: ((f32(1, 4, 3, 4), f32(4, 3, 3, 3), f32(6)),
                                {"group": 2, "strides": (2, 2), "pads": (1, 0, 0, 1),
                                 "output_padding": (1, 0)})),
    # quantized ops (ops/quant.py): per-channel scales along `axis`
    ("quantize_linear", lambda: ((f32(2, 3, 4), positive(3) * 0.05,
                                  np.array([0, 3, -2], np.int8)), {"axis": 1})),
    ("dequantize_linear", lambda: ((RNG.integers(0, 256, (2, 3), dtype=np.uint8),
                                    np.float32(0.1), np.uint8(7)), {})),
    ("qlinear_conv", lambda: ((RNG.integers(0, 256, (1, 4, 5, 5), dtype=np.uint8),
                               np.float32(0.02), np.uint8(3),
                               RNG.integers(-127, 128, (6, 2, 3, 3), dtype=np.int8),
                               positive(6) * 0.01, np.zeros(6, np.int8), np.float32(0.05),
                               np.uint8(5), RNG.integers(-99, 99, 6, dtype=np.int32)),
                              {"group": 2, "pads": (1, 1, 1, 1), "act_min": 5})),
    ("qlinear_add", lambda: ((RNG.integers(0, 256, (2, 3, 4), dtype=np.uint8), np.float32(0.1),
                              np.uint8(9), RNG.integers(0, 256, (3, 1), dtype=np.uint8),
                              np.float32(0.05), np.uint8(200), np.float32(0.2), np.uint8(4)),
                             {"act_min": 4})),
    ("qlinear_matmul", lambda: ((RNG.integers(-128, 128, (3, 8), dtype=np.int8),
                                 np.float32(0.03), np.int8(-1),
                                 RNG.integers(-127, 128, (8, 5), dtype=np.int8),
                                 positive(5) * 0.01, np.zeros(5, np.int8), np.float32(0.05),
                                 np.int8(2)), {"rounding": "float"})),
])

# The layout ops (ops/layouts.py, conv_cl.py, pool_cl.py): nhwc and blocked nchwc.
EXAMPLES.update({
    "relayout": lambda: ((f32(2, 5, 4, 3),), {"src": "nchw", "dst": "nchwc", "block": 4}),
    "conv_cl": lambda: ((f32(1, 6, 5, 8), f32(3, 3, 8, 4), f32(4)),
                        {"layout": "nhwc", "strides": (2, 1), "pads": (1, 1, 0, 1)}),
    "pool_cl": lambda: ((f32(1, 2, 7, 7, 4),), {"layout": "nchwc", "block": 4, "mode": "avg",
                                                "kernel_shape": (3, 3), "strides": (2, 2),
                                                "pads": (1, 1, 1, 1)}),
    "global_avg_pool_cl": lambda: ((f32(2, 3, 3, 5),), {"layout": "nhwc", "channels": 5}),
    "batch_norm_cl": lambda: ((f32(2, 4, 4, 6), f32(6), f32(6), f32(6), positive(6)),
                              {"layout": "nhwc", "epsilon": 1e-5}),
})
