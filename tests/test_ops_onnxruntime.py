"""Every op against ONNX Runtime: one-node ONNX models on random inputs (edge shapes included),
run by ORT and by our eager and compiled executors through the importer."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx_models import assert_matches_ort, one_node_model

RNG = np.random.default_rng(7)


def f32(*shape: int, low: float | None = None) -> np.ndarray:
    if low is not None:
        return RNG.uniform(low, low + 2.0, shape).astype(np.float32)
    return RNG.standard_normal(shape).astype(np.float32)


def i64(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


def case(op: str, inputs: list, consts: dict | None = None, opset: int = 18,
         n_outputs: int = 1, id: str = "", **attrs):
    return pytest.param(op, inputs, consts or {}, opset, n_outputs, attrs,
                        id=f"{op}-{id}" if id else op)


UNARY = ["Relu", "Sigmoid", "Tanh", "Erf", "Neg", "Exp", "Abs", "HardSwish"]
ELEMENTWISE = [case(op, [f32(2, 3, 5)]) for op in UNARY] + [
    case("Sqrt", [f32(4, 7, low=0.1)]),
    case("Log", [f32(4, 7, low=0.1)]),
    case("Reciprocal", [f32(3, 1, 5, low=0.5)]),
    case("Relu", [f32(1)], id="one-element"),
    case("Tanh", [f32(1, 1, 1, 37)], id="unit-dims"),
    case("Sigmoid", [np.array([-100, -20, 0, 20, 100], np.float32)], id="saturating"),
    case("HardSigmoid", [f32(3, 8)], alpha=0.3, beta=0.4),
    case("LeakyRelu", [f32(3, 8)], alpha=0.1),
    case("LeakyRelu", [f32(3, 8)], alpha=1.7, id="alpha-above-1"),
    case("Gelu", [f32(4, 33)], opset=20),
    case("Gelu", [f32(4, 33)], opset=20, approximate="tanh", id="tanh"),
    case("Clip", [f32(5, 6)], {1: np.array(0, np.float32), 2: np.array(6, np.float32)},
         id="relu6"),
    case("Clip", [f32(5, 6)], {1: np.array(-0.5, np.float32)}, id="min-only"),
    case("Clip", [f32(5, 6), None], {2: np.array(0.5, np.float32)}, id="max-only"),
    case("Clip", [f32(5, 6)], id="no-bounds"),
    case("Add", [f32(2, 3, 4), f32(4)], id="broadcast-row"),
    case("Sub", [f32(2, 1, 4), f32(3, 1)], id="broadcast-both"),
    case("Mul", [f32(2, 3, 4), f32(2, 3, 4)]),
    case("Div", [f32(6, 5), f32(1, 5, low=0.5)]),
    case("Pow", [f32(3, 4, low=0.1), f32(3, 4)]),
    case("Pow", [f32(3, 4)], {1: np.array(2.0, np.float32)}, id="square"),
    case("Max", [f32(3, 4), f32(4)]),
    case("Min", [f32(3, 4), f32(3, 1), f32(1, 4)], id="three"),
    case("Sum", [f32(2, 5), f32(2, 5), f32(5)]),
    case("Mean", [f32(2, 5), f32(2, 5)]),
    case("PRelu", [f32(2, 3, 4, 4)], {1: f32(3, 1, 1)}),
    case("Add", [f32(8)], {1: np.array(1.5, np.float32)}, id="scalar-const"),
]

LOGIC = [
    case(op, [f32(3, 4), f32(4)]) for op in
    ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual")
] + [
    case("Equal", [i64(1, 2, 3), i64(3, 2, 1)], id="int"),
    case("And", [RNG.random((3, 4)) < 0.5, RNG.random((4,)) < 0.5]),
    case("Or", [RNG.random((3, 4)) < 0.5, RNG.random((3, 4)) < 0.5]),
    case("Not", [RNG.random((5,)) < 0.5]),
    case("Where", [RNG.random((3, 4)) < 0.5, f32(3, 4), f32(4)]),
    case("Cast", [f32(3, 4) * 10], to=7, id="to-int64"),
    case("Cast", [i64(1, -2, 3)], to=1, id="to-float"),
    case("Cast", [f32(6)], to=9, id="to-bool"),
]

MATRIX = [
    case("MatMul", [f32(3, 5), f32(5, 2)]),
    case("MatMul", [f32(2, 1, 3, 5), f32(4, 5, 6)], id="batched-broadcast"),
    case("MatMul", [f32(5), f32(5, 3)], id="vector-left"),
    case("MatMul", [f32(2, 3, 5), f32(5)], id="vector-right"),
    case("Gemm", [f32(3, 5), f32(5, 4), f32(4)]),
    case("Gemm", [f32(5, 3), f32(4, 5), f32(3, 1)], transA=1, transB=1, alpha=0.5, beta=2.0,
         id="transposed"),
    case("Gemm", [f32(3, 5), f32(5, 4)], id="no-c"),
]


def conv(n: int, c: int, h: int, w: int, o: int, k: int, group: int = 1, bias: bool = True,
         id: str = "", **attrs):
    inputs = [f32(n, c, h, w), f32(o, c // group, k, k)] + ([f32(o)] if bias else [])
    return case("Conv", inputs, group=group, id=id, **attrs)


CONV = [
    conv(1, 3, 9, 9, 4, 3, pads=[1, 1, 1, 1], id="3x3-same"),
    conv(2, 4, 10, 7, 6, 3, group=2, strides=[2, 2], pads=[0, 1, 1, 2], id="groups-asym-pads"),
    conv(1, 8, 8, 8, 8, 3, group=8, pads=[1, 1, 1, 1], id="depthwise"),
    conv(2, 4, 9, 9, 8, 3, group=4, strides=[2, 2], dilations=[2, 2], pads=[2, 2, 2, 2],
         id="depthwise-multiplier-dilated"),
    conv(2, 5, 6, 6, 7, 1, id="pointwise"),
    conv(1, 6, 7, 7, 6, 1, strides=[2, 2], bias=False, id="pointwise-strided-no-bias"),
    conv(1, 3, 5, 5, 2, 5, id="kernel-covers-input"),
    conv(1, 2, 7, 11, 3, 3, dilations=[1, 2], strides=[1, 3], id="anisotropic"),
    conv(1, 3, 8, 8, 4, 3, strides=[2, 2], auto_pad="SAME_UPPER", id="same-upper"),
    conv(1, 3, 8, 8, 4, 2, auto_pad="SAME_LOWER", id="same-lower"),
    conv(1, 3, 8, 8, 4, 3, auto_pad="VALID", id="valid"),
    conv(1, 1, 1, 1, 1, 1, id="all-ones"),
    case("Conv", [f32(2, 4, 17), f32(6, 2, 3), f32(6)], group=2, pads=[1, 2], strides=[2],
         id="1d"),
]


def pool(op: str, shape: tuple, id: str = "", **attrs):
    return case(op, [f32(*shape)], opset=19, id=id, **attrs)


POOL = [
    pool(op, (2, 3, 11, 10), kernel_shape=[k, k], strides=[s, s], pads=[p] * 4, ceil_mode=c,
         dilations=[d, d], id=f"k{k}s{s}p{p}d{d}c{c}", **extra)
    for op, extra in (("MaxPool", {}), ("AveragePool", {"count_include_pad": 0}),
                      ("AveragePool", {"count_include_pad": 1}))
    for k, s, p, d, c in ((3, 2, 1, 1, 0), (2, 2, 0, 1, 0), (3, 2, 0, 1, 1), (3, 1, 1, 2, 0),
                          (5, 3, 2, 1, 1), (3, 2, 1, 1, 1))
] + [
    pool("MaxPool", (1, 2, 9, 9), kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER",
         id="same-upper"),
    pool("AveragePool", (1, 2, 9, 9), kernel_shape=[2, 3], pads=[0, 1, 1, 0], id="asym"),
    # ceil mode, one window far larger than the map (Hugging Face EfficientNet's pooler): the
    # overhang is not counted, so it is the global pool
    pool("AveragePool", (1, 4, 3, 3), kernel_shape=[2560, 2560], strides=[2560, 2560],
         ceil_mode=1, id="one-huge-window-avg"),
    pool("MaxPool", (2, 3, 3, 5), kernel_shape=[4, 6], ceil_mode=1, strides=[4, 6],
         id="one-huge-window-max"),
    pool("MaxPool", (2, 3, 12), kernel_shape=[3], strides=[2], pads=[1, 1], id="1d"),
    case("GlobalAveragePool", [f32(2, 3, 5, 7)]),
    case("GlobalAveragePool", [f32(2, 3, 1, 1)], id="1x1"),
    case("GlobalMaxPool", [f32(2, 3, 5, 7)]),
]

NORM = [
    case("BatchNormalization", [f32(2, 3, 4, 5), f32(3), f32(3), f32(3), f32(3, low=0.5)],
         epsilon=1e-3),
    case("BatchNormalization", [f32(4, 6), f32(6), f32(6), f32(6), f32(6, low=0.5)], id="2d"),
    case("Softmax", [f32(3, 4, 5)]),
    case("Softmax", [f32(3, 4, 5)], axis=1, id="axis1"),
    case("Softmax", [f32(1, 7) * 50], axis=0, id="axis0-large"),
    case("LogSoftmax", [f32(3, 4, 5) * 30]),
    case("LayerNormalization", [f32(2, 5, 8), f32(8), f32(8)], opset=17),
    case("LayerNormalization", [f32(2, 5, 8), f32(5, 8)], axis=1, epsilon=1e-3, opset=17,
         id="axis1-no-bias"),
    case("LayerNormalization", [f32(3, 1), f32(1), f32(1)], opset=17, id="one-column"),
]

REDUCE = [
    case(op, [f32(3, 4, 5)], {1: i64(*axes)}, keepdims=keep, id=f"{axes}-{keep}")
    for op in ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin")
    for axes, keep in (((1,), 1), ((0, 2), 0), ((-1,), 1))
] + [
    case("ReduceMean", [f32(3, 4)], id="all"),
    case("ReduceSum", [f32(3, 4)], {1: np.zeros(0, np.int64)}, noop_with_empty_axes=1,
         id="noop"),
    case("ReduceMean", [f32(3, 4, 5)], opset=13, axes=[1], id="opset13-attr"),
    case("ArgMax", [f32(3, 4, 5)], axis=1),
    case("ArgMax", [f32(3, 4, 5)], axis=-1, keepdims=0, id="last-drop"),
]

SHAPE = [
    case("Reshape", [f32(2, 3, 4)], {1: i64(0, -1)}, id="zero-and-infer"),
    case("Reshape", [f32(2, 3, 4)], {1: i64(4, 1, 6)}),
    case("Flatten", [f32(2, 3, 4, 5)]),
    case("Flatten", [f32(2, 3, 4)], axis=0, id="axis0"),
    case("Flatten", [f32(2, 3, 4)], axis=-1, id="axis-1"),
    case("Transpose", [f32(2, 3, 4)], perm=[1, 2, 0]),
    case("Transpose", [f32(2, 3, 4)], id="default-reverse"),
    case("Concat", [f32(2, 3), f32(2, 1), f32(2, 4)], axis=-1),
    case("Concat", [f32(1, 3), f32(2, 3)], axis=0, id="axis0"),
    case("Split", [f32(6, 4)], {1: i64(1, 2, 3)}, n_outputs=3, axis=0),
    case("Split", [f32(4, 6)], n_outputs=2, axis=1, opset=13, id="equal"),
    case("Split", [f32(4, 7)], n_outputs=3, axis=1, num_outputs=3, id="num-outputs-uneven"),
    case("Slice", [f32(5, 6)], {1: i64(1, -4), 2: i64(4, 100), 3: i64(0, 1)}),
    case("Slice", [f32(5, 6)], {1: i64(-1), 2: i64(-100), 3: i64(1), 4: i64(-2)},
         id="negative-step"),
    case("Slice", [f32(5, 6)], {1: i64(2), 2: i64(2**63 - 1), 3: i64(0), 4: i64(2)},
         id="int64-max"),
    case("Slice", [f32(5, 6)], {1: i64(3), 2: i64(1)}, id="empty"),
    case("Gather", [f32(5, 4)], {1: i64(0, 4, -1)}, axis=0),
    case("Gather", [f32(3, 5, 2)], {1: np.array([[1, 0], [4, -2]], np.int64)}, axis=1,
         id="2d-indices"),
    case("Gather", [f32(3, 5)], {1: np.array(2, np.int64)}, axis=1, id="scalar-index"),
    case("Gather", [f32(10, 4), np.array([[3, 1, 9]], np.int64)], id="indices-input"),
    case("Squeeze", [f32(1, 3, 1, 4)], {1: i64(0, 2)}),
    case("Squeeze", [f32(1, 3, 1, 4)], id="all-ones"),
    case("Unsqueeze", [f32(3, 4)], {1: i64(0, -1)}),
    case("Expand", [f32(3, 1)], {1: i64(2, 3, 4)}),
    case("Expand", [f32(1, 4)], {1: i64(3, 1)}, id="bidirectional"),
    case("Tile", [f32(2, 3)], {1: i64(2, 3)}),
    case("Pad", [f32(2, 3, 4)], {1: i64(0, 1, 2, 1, 0, 3), 2: np.array(1.5, np.float32)}),
    case("Pad", [f32(1, 2, 4, 5)], {1: i64(0, 0, 2, 1, 0, 0, 3, 4)}, mode="reflect",
         id="reflect"),
    case("Pad", [f32(1, 2, 4, 5)], {1: i64(0, 0, 3, 1, 0, 0, 2, 6)}, mode="edge", id="edge"),
    case("Pad", [f32(1, 2, 4, 5)], {1: i64(0, 0, 3, 1, 0, 0, 2, 6)}, mode="wrap",
         opset=19, id="wrap"),
    case("Pad", [f32(3, 6)], {1: i64(-1, 2, 1, -3)}, id="negative-crops"),
    case("Pad", [f32(2, 3, 4)], {1: i64(1, 2), 3: i64(-1)}, id="axes-input"),
    case("Identity", [f32(3)]),
]

ALL = ELEMENTWISE + LOGIC + MATRIX + CONV + POOL + NORM + REDUCE + SHAPE


@pytest.mark.parametrize("op, inputs, consts, opset, n_outputs, attrs", ALL)
def test_op_matches_onnxruntime(op, inputs, consts, opset, n_outputs, attrs):
    model, feeds = one_node_model(op, inputs, consts, n_outputs=n_outputs, opset=opset,
                                  **attrs)
    assert_matches_ort(model, feeds, rtol=1e-5, atol=2e-5)


# -- random window geometry ----------------------------------------------------------------------

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies


@st.composite
def conv_geometry(draw):
    group = draw(st.sampled_from([1, 1, 2, 3]))
    c, o = group * draw(st.integers(1, 3)), group * draw(st.integers(1, 3))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pads = [draw(st.integers(0, 2)) for _ in range(4)]
    h = draw(st.integers(max(1, d[0] * (k[0] - 1) + 1 - pads[0] - pads[2]), 12))
    w = draw(st.integers(max(1, d[1] * (k[1] - 1) + 1 - pads[1] - pads[3]), 12))
    strides = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
    return (draw(st.integers(1, 2)), c, h, w, o, k, d, pads, strides, group)


@hypothesis.settings(max_examples=40, deadline=None)
@hypothesis.given(conv_geometry(), st.booleans())
def test_random_conv_geometry_matches_onnxruntime(geometry, bias) -> None:
    n, c, h, w, o, k, d, pads, strides, group = geometry
    inputs = [f32(n, c, h, w), f32(o, c // group, *k)] + ([f32(o)] if bias else [])
    model, feeds = one_node_model("Conv", inputs, group=group, pads=pads, strides=strides,
                                  dilations=list(d))
    assert_matches_ort(model, feeds, rtol=1e-5, atol=2e-5)


@hypothesis.settings(max_examples=40, deadline=None)
@hypothesis.given(conv_geometry(), st.sampled_from(["MaxPool", "AveragePool"]),
                  st.booleans(), st.booleans())
def test_random_pool_geometry_matches_onnxruntime(geometry, op, ceil, include_pad) -> None:
    n, c, h, w, _, k, d, pads, strides, _ = geometry
    pads = [min(p, kk // 2) for p, kk in zip(pads, k + k)]  # ONNX: pads below the kernel
    extra = {"count_include_pad": int(include_pad)} if op == "AveragePool" else {}
    model, feeds = one_node_model(op, [f32(n, c, h + 2, w + 2)], kernel_shape=list(k),
                                  pads=pads, strides=strides, dilations=list(d),
                                  ceil_mode=int(ceil), opset=19, **extra)
    assert_matches_ort(model, feeds, rtol=1e-5, atol=2e-5)
