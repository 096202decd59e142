"""The integer kernels against ONNX Runtime's QLinearConv and QLinearMatMul on the same quantized
model, bit for bit with ONNX Runtime's rounding ("float"), and within one step with gemmlowp's
fixed-point rounding (the difference counted: ties and near-ties only)."""

from __future__ import annotations

import numpy as np
import pytest

from mlxa.ir.builder import GraphBuilder
from mlxa.runtime.eager import EagerModel

RNG = np.random.default_rng(5)


def _qconv_graph(xq, w, x_dtype, rounding, bias=True, group=1, stride=1, act_min=None):
    b = GraphBuilder("qconv")
    x = b.input(xq.shape, x_dtype)
    o = w.shape[0]
    rng = np.random.default_rng(o)  # the same scales and bias for either rounding
    sw = (np.abs(rng.standard_normal(o)) * 0.01 + 0.002).astype(np.float32)
    params = [b.param(np.array(0.02, np.float32)),
              b.param(np.array(3 if x_dtype == np.uint8 else -2, x_dtype)),
              b.param(w), b.param(sw), b.param(np.zeros(o, np.int8)),
              b.param(np.array(0.05, np.float32)),
              b.param(np.array(7 if x_dtype == np.uint8 else 1, x_dtype))]
    if bias:
        params.append(b.param(rng.integers(-3000, 3000, o).astype(np.int32)))
    attrs = {"strides": (stride, stride), "pads": (1, 1, 1, 1), "group": group,
             "rounding": rounding}
    if act_min is not None:
        attrs["act_min"] = act_min
    y = b.op("qlinear_conv", x, *params, **attrs)
    return b.build(y)


def _qmatmul_graph(a_dtype, k, n, per_column, rounding):
    b = GraphBuilder("qmatmul")
    a = b.input((6, k), a_dtype)
    sb = (np.abs(RNG.standard_normal(n if per_column else ())) * 0.01 + 0.002).astype(np.float32)
    zb = np.zeros(sb.shape, np.int8)
    w = RNG.integers(-127, 128, (k, n)).astype(np.int8)
    zero = 5 if a_dtype == np.uint8 else -3
    y = b.op("qlinear_matmul", a, b.param(np.array(0.03, np.float32)),
             b.param(np.array(zero, a_dtype)), b.param(w), b.param(sb), b.param(zb),
             b.param(np.array(0.07, np.float32)), b.param(np.array(zero, a_dtype)),
             rounding=rounding)
    return b.build(y)


def _ort(graph, x):
    ort = pytest.importorskip("onnxruntime")
    from mlxa.frontends.onnx_export import to_onnx

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(to_onnx(graph).SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _input(shape, dtype):
    lo, hi = np.iinfo(dtype).min, np.iinfo(dtype).max
    return RNG.integers(lo, hi + 1, shape).astype(dtype)


CONV_CASES = [  # (x dtype, in channels, out channels, group, stride, bias)
    (np.uint8, 16, 24, 1, 1, True),
    (np.uint8, 32, 32, 32, 2, True),  # depthwise
    (np.int8, 16, 8, 1, 2, False),
    (np.int8, 64, 64, 1, 1, True),  # winograd-shaped (3x3 stride 1)
]


@pytest.mark.parametrize("x_dtype, c, o, group, stride, bias", CONV_CASES)
def test_qlinear_conv_equals_onnxruntime_bit_for_bit(x_dtype, c, o, group, stride, bias):
    pytest.importorskip("onnx")
    x = _input((2, c, 9, 9), x_dtype)
    w = RNG.integers(-127, 128, (o, c // group, 3, 3)).astype(np.int8)
    graph = _qconv_graph(x, w, x_dtype, "float", bias, group, stride)
    ours = EagerModel(graph)(x)[0]
    theirs = _ort(graph, x)
    assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)


@pytest.mark.parametrize("x_dtype, c, o, group, stride, bias", CONV_CASES)
def test_fixed_point_rounding_differs_by_at_most_one_step(x_dtype, c, o, group, stride, bias):
    pytest.importorskip("onnx")
    x = _input((2, c, 9, 9), x_dtype)
    w = RNG.integers(-127, 128, (o, c // group, 3, 3)).astype(np.int8)
    fixed = EagerModel(_qconv_graph(x, w, x_dtype, "fixed_point", bias, group, stride))(x)[0]
    theirs = _ort(_qconv_graph(x, w, x_dtype, "float", bias, group, stride), x)
    diff = np.abs(fixed.astype(np.int64) - theirs.astype(np.int64))
    assert diff.max() <= 1
    assert (diff > 0).mean() < 0.01  # ties and near-ties only


@pytest.mark.parametrize("a_dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("per_column", [False, True])
def test_qlinear_matmul_equals_onnxruntime_bit_for_bit(a_dtype, per_column):
    pytest.importorskip("onnx")
    graph = _qmatmul_graph(a_dtype, 40, 12, per_column, "float")
    a = _input((6, 40), a_dtype)
    assert np.array_equal(EagerModel(graph)(a)[0], _ort(graph, a))


def test_matmul_bias_exports_as_a_one_by_one_qlinear_conv():
    pytest.importorskip("onnx")
    b = GraphBuilder("qgemm")
    a = b.input((3, 20), np.uint8)
    w = RNG.integers(-127, 128, (20, 7)).astype(np.int8)
    sb = (np.abs(RNG.standard_normal(7)) * 0.01 + 0.002).astype(np.float32)
    y = b.op("qlinear_matmul", a, b.param(np.array(0.03, np.float32)),
             b.param(np.array(9, np.uint8)), b.param(w), b.param(sb),
             b.param(np.zeros(7, np.int8)), b.param(np.array(0.07, np.float32)),
             b.param(np.array(4, np.uint8)),
             b.param(RNG.integers(-500, 500, 7).astype(np.int32)), rounding="float")
    graph = b.build(y)
    x = _input((3, 20), np.uint8)
    assert np.array_equal(EagerModel(graph)(x)[0], _ort(graph, x))


def test_a_fused_relu_clamp_exports_as_max():
    pytest.importorskip("onnx")
    x = _input((1, 8, 6, 6), np.int8)
    w = RNG.integers(-127, 128, (8, 8, 3, 3)).astype(np.int8)
    graph = _qconv_graph(x, w, np.int8, "float", act_min=1)  # output zero point 1
    ours = EagerModel(graph)(x)[0]
    assert ours.min() >= 1 and np.array_equal(ours, _ort(graph, x))


@pytest.mark.parametrize("name, sizes", [("digits_cnn", {}), ("small_cnn", {}),
                                         ("resnet18", {"image": 32, "width": 8})])
def test_a_lowered_model_exports_and_runs_bit_for_bit_in_onnxruntime(name, sizes):
    """The whole integer program (QLinearConv, the bias-carrying matmul as a 1x1 QLinearConv,
    residual adds, max_pool and flatten on 8 bits, the boundary Q/DQ) exported and run by ONNX
    Runtime."""
    pytest.importorskip("onnx")
    from mlxa.compiler import CompileOptions, compile_program
    from mlxa.models.zoo import build
    from mlxa.passes.quantize import QuantizeSpec

    graph = build(name, **sizes)
    shape = graph.inputs[0].shape
    batches = tuple((RNG.random(shape, np.float32),) for _ in range(3))
    spec = QuantizeSpec(batches, rounding="float")
    program = compile_program(graph, CompileOptions(quantize=spec))
    assert {n.op for n in program.graph.nodes} >= {"qlinear_conv", "qlinear_matmul"}
    x = batches[1][0]
    assert np.array_equal(EagerModel(program.graph)(x)[0], _ort(program.graph, x))
