"""The ops added for real models (activations, math, indexing, normalisation, window ops) against
ONNX Runtime: one-node ONNX models on random inputs and edge shapes, run by ORT and by our eager
and compiled executors through the importer."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx_models import assert_matches_ort, one_node_model

RNG = np.random.default_rng(17)


def f32(*shape: int, scale: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def i64(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


def case(op: str, inputs: list, consts: dict | None = None, opset: int = 18,
         n_outputs: int = 1, id: str = "", **attrs):
    return pytest.param(op, inputs, consts or {}, opset, n_outputs, attrs,
                        id=f"{op}-{id}" if id else op)


SPECIAL = np.array([0.0, -0.0, 1e-30, -1e-30, 50.0, -50.0, 100.0, -100.0], np.float32)

ACTIVATIONS = [
    case("Elu", [f32(2, 3, 5)]),
    case("Elu", [f32(4, 7)], alpha=0.3, id="alpha"),
    case("Elu", [SPECIAL], id="extremes"),
    case("Selu", [f32(2, 3, 5)]),
    case("Selu", [f32(4, 7)], alpha=1.5, gamma=0.9, id="attrs"),
    case("Softplus", [f32(2, 3, 5, scale=5.0)]),
    case("Softplus", [SPECIAL], id="extremes"),
    case("Sign", [np.array([-2.0, -0.0, 0.0, 3.0, 1e-30], np.float32)]),
    case("Sign", [f32(1, 1, 9)], id="unit-dims"),
    case("Shrink", [f32(3, 8)]),
    case("Shrink", [f32(3, 8)], lambd=0.2, bias=0.1, id="bias"),
    case("Shrink", [f32(1)], lambd=0.0, id="zero-lambd"),
    case("Cos", [f32(2, 3, 5, scale=10.0)]),
    case("Sin", [f32(2, 3, 5, scale=10.0)]),
    case("Sin", [f32(1)], id="one-element"),
    case("IsNaN", [np.array([0.0, np.nan, np.inf, -np.inf, -1.0], np.float32)]),
    case("IsNaN", [f32(3, 4)], id="none"),
]

ALONG_AXIS = [
    case("CumSum", [f32(3, 5)], {1: np.array(1, np.int64)}),
    case("CumSum", [f32(3, 5)], {1: np.array(0, np.int32)}, exclusive=1, id="exclusive"),
    case("CumSum", [f32(3, 5)], {1: np.array(-1, np.int64)}, reverse=1, id="reverse"),
    case("CumSum", [f32(2, 3, 4)], {1: np.array(1, np.int64)}, exclusive=1, reverse=1,
         id="exclusive-reverse"),
    case("CumSum", [np.array([[1, 0, 1, 1]], np.int64)], {1: np.array(1, np.int64)},
         id="int-mask"),
    case("CumSum", [f32(1)], {1: np.array(0, np.int64)}, id="one-element"),
    case("GatherElements", [f32(3, 4), np.array([[0, 2], [1, 0], [2, -1]], np.int64)],
         axis=1),
    case("GatherElements", [f32(3, 4)], {1: np.array([[2, 0, 1, -3]], np.int64)}, axis=0,
         id="axis0-const"),
    case("GatherElements", [f32(2, 3, 4), np.zeros((2, 1, 4), np.int64)], axis=1,
         id="3d-fewer"),
    case("GatherElements", [f32(5, 1)], {1: np.array([[4], [0], [2]], np.int32)}, id="int32"),
    case("Trilu", [f32(4, 5)]),
    case("Trilu", [f32(2, 4, 5)], {1: np.array(1, np.int64)}, upper=0, id="lower-k1"),
    case("Trilu", [f32(3, 3)], {1: np.array(-1, np.int64)}, id="upper-k-1"),
]

NORM = [
    case("InstanceNormalization", [f32(2, 3, 5, 4), f32(3), f32(3)]),
    case("InstanceNormalization", [f32(1, 4, 7), f32(4), f32(4)], epsilon=1e-3, id="1d"),
    case("InstanceNormalization", [f32(2, 2, 3, 2, 2), f32(2), f32(2)], id="3d"),
    case("InstanceNormalization", [f32(1, 2, 1, 2) * 3, f32(2), f32(2)], id="two-pixels"),
    case("LRN", [f32(2, 7, 4, 4)], size=5),
    case("LRN", [f32(1, 4, 3, 3)], size=3, alpha=1e-2, beta=0.5, bias=2.0, id="attrs"),
    case("LRN", [f32(1, 3, 2, 2)], size=7, alpha=0.1, id="size-above-channels"),
]

def convt(x: tuple, w: tuple, bias: bool = True, id: str = "", **attrs):
    group = attrs.get("group", 1)
    inputs = [f32(*x), f32(*w)] + ([f32(w[1] * group)] if bias else [])
    return case("ConvTranspose", inputs, id=id, **attrs)


WINDOWS = [
    convt((1, 3, 4, 4), (3, 2, 3, 3)),
    convt((2, 4, 3, 5), (4, 3, 3, 2), strides=[2, 3], pads=[1, 0, 0, 1], id="strided-pads"),
    convt((1, 4, 3, 3), (4, 2, 3, 3), strides=[2, 2], output_padding=[1, 1], group=2,
          id="groups-output-padding"),
    convt((1, 2, 4, 4), (2, 3, 2, 2), dilations=[2, 2], bias=False, id="dilated-no-bias"),
    convt((1, 2, 5), (2, 3, 4), strides=[3], pads=[1, 2], id="1d"),
    convt((1, 2, 3, 3, 2), (2, 2, 2, 3, 2), strides=[2, 1, 2], id="3d"),
    convt((1, 2, 4, 4), (2, 3, 3, 3), strides=[2, 2], auto_pad="SAME_UPPER", id="same-upper"),
    convt((1, 2, 4, 4), (2, 3, 3, 3), strides=[2, 2], output_shape=[9, 8], id="output-shape"),
    convt((1, 1, 1, 1), (1, 1, 1, 1), id="all-ones"),
    case("Conv", [f32(1, 2, 5, 6, 4), f32(3, 2, 3, 3, 2), f32(3)], pads=[1, 1, 0, 1, 1, 1],
         strides=[1, 2, 1], id="3d"),
    case("Conv", [f32(2, 4, 4, 4, 4), f32(4, 2, 2, 2, 2)], group=2, dilations=[2, 1, 1],
         id="3d-groups-dilated"),
    case("Conv", [f32(1, 3, 5, 5, 5), f32(4, 3, 3, 3, 3)], auto_pad="SAME_UPPER",
         id="3d-same"),
    case("MaxPool", [f32(1, 2, 5, 6, 7)], opset=19, kernel_shape=[2, 3, 3], strides=[2, 2, 2],
         pads=[0, 1, 1, 0, 1, 1], id="3d"),
    case("MaxPool", [f32(1, 2, 5, 6, 7)], opset=19, kernel_shape=[3, 3, 3], strides=[2, 2, 2],
         ceil_mode=1, id="3d-ceil"),
    case("AveragePool", [f32(1, 2, 5, 6, 5)], opset=19, kernel_shape=[3, 3, 3],
         strides=[2, 2, 2], pads=[1, 1, 1, 1, 1, 1], id="3d"),
    case("AveragePool", [f32(1, 2, 5, 6, 5)], opset=19, kernel_shape=[3, 3, 3],
         strides=[2, 2, 2], pads=[1, 1, 1, 1, 1, 1], count_include_pad=1, id="3d-include-pad"),
    case("AveragePool", [f32(1, 1, 6, 5, 5)], opset=19, kernel_shape=[3, 2, 3],
         strides=[2, 2, 2], ceil_mode=1, id="3d-ceil"),
]

COMPOSITES = [
    case("Floor", [f32(3, 7, scale=3.0)]),
    case("Ceil", [f32(3, 7, scale=3.0)]),
    case("Round", [np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4, -2.6], np.float32)]),
    *(case(op, [f32(3, 7)]) for op in ("Tan", "Atan", "Sinh", "Cosh", "Asinh")),
    *(case(op, [np.tanh(f32(3, 7))]) for op in ("Asin", "Acos", "Atanh")),
    case("Acosh", [np.abs(f32(3, 7)) + 1.0]),
    case("Softsign", [f32(3, 7, scale=3.0)]),
    case("Mish", [f32(3, 7, scale=3.0)], opset=18),
    case("Celu", [f32(3, 7)], alpha=0.5),
    case("ThresholdedRelu", [f32(3, 7)], alpha=0.3),
    case("Xor", [RNG.random((3, 4)) < 0.5, RNG.random((4,)) < 0.5]),
    case("ArgMin", [f32(3, 4, 5)], axis=1),
    case("ArgMin", [np.array([[1.0, 0.0, 0.0, 2.0]], np.float32)], axis=1, keepdims=0,
         id="ties"),
    *(case(op, [f32(3, 4, 5, scale=2.0) if op != "ReduceLogSum" else np.abs(f32(3, 4, 5)) + 0.1],
           {1: i64(*axes)}, keepdims=keep, id=f"{axes}-{keep}")
      for op in ("ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp")
      for axes, keep in (((1,), 1), ((0, 2), 0))),
    case("ReduceLogSumExp", [f32(2, 6, scale=40.0)], {1: i64(-1)}, id="large"),
    case("ReduceL2", [f32(3, 4)], id="all"),
]

def resize(shape: tuple, scales: list | None = None, sizes: list | None = None, id: str = "",
           **attrs):
    consts = {2: np.array(scales, np.float32)} if scales else {}
    if sizes:
        consts = {3: np.array(sizes, np.int64)}
    return case("Resize", [f32(*shape), None, None], consts, opset=13, id=id, **attrs)


RESIZE = [
    resize((1, 2, 3, 4), [1, 1, 2, 2], id="nearest-x2"),
    resize((1, 2, 3, 4), [1, 1, 2, 2], mode="linear", id="linear-x2"),
    resize((1, 2, 5, 7), sizes=[1, 2, 3, 4], mode="linear", id="linear-down-sizes"),
    resize((1, 2, 4, 5), [1, 1, 1.5, 2.5], mode="linear",
           coordinate_transformation_mode="align_corners", id="linear-align-corners"),
    resize((1, 2, 4, 5), [1, 1, 1.5, 0.6], mode="linear",
           coordinate_transformation_mode="pytorch_half_pixel", id="linear-pytorch"),
    resize((1, 2, 4, 5), [1, 1, 3, 2], coordinate_transformation_mode="asymmetric",
           nearest_mode="floor", id="nearest-asymmetric-floor"),
    resize((1, 2, 4, 5), [1, 1, 1.7, 0.5], nearest_mode="round_prefer_ceil",
           id="nearest-fractional-ceil"),
    resize((1, 2, 4, 5), sizes=[1, 2, 7, 3], nearest_mode="ceil", id="nearest-sizes-ceil"),
    resize((2, 3, 4), [1, 2, 1], mode="linear", id="linear-middle-axis"),
    case("Upsample", [f32(1, 2, 3, 3)], {1: np.array([1, 1, 2, 3], np.float32)}, opset=9,
         id="opset9"),
]

LAYOUT = [
    case("GroupNormalization", [f32(2, 6, 3, 4), f32(6), f32(6)], num_groups=3, opset=21),
    case("GroupNormalization", [f32(1, 4, 5), f32(4), f32(4)], num_groups=2, epsilon=1e-3,
         opset=21, id="1d"),
    case("DepthToSpace", [f32(1, 8, 2, 3)], blocksize=2),
    case("DepthToSpace", [f32(2, 18, 2, 2)], blocksize=3, mode="CRD", id="crd"),
    case("SpaceToDepth", [f32(1, 3, 4, 6)], blocksize=2),
]

def einsum(equation: str, *shapes: tuple, id: str = ""):
    return case("Einsum", [f32(*s) for s in shapes], equation=equation, opset=12,
                id=id or equation.replace(",", "_").replace("->", "-to-").replace(".", "d"))


EINSUM = [
    einsum("bhqd,bhkd->bhqk", (2, 3, 4, 5), (2, 3, 6, 5)),
    einsum("ij,jk->ik", (3, 4), (4, 5)),
    einsum("ij,jk", (3, 4), (4, 5), id="implicit"),
    einsum("bij->bji", (2, 3, 4)),
    einsum("ij->i", (3, 4)),
    einsum("i,j->ij", (3,), (4,)),
    einsum("...ij,...jk->...ik", (2, 3, 4), (2, 4, 5)),
    einsum("bnd,dk->bnk", (2, 3, 4), (4, 5)),
    einsum("abc,cda->bd", (2, 3, 4), (4, 5, 2)),
    einsum("ijk,ik->j", (2, 3, 4), (2, 4)),
]

MISC = [
    case("TopK", [f32(3, 6)], {1: i64(3)}, n_outputs=2),
    case("TopK", [np.array([[3, 1, 3, 2, 0, 3]], np.float32)], {1: i64(4)}, n_outputs=2,
         largest=0, id="smallest-ties"),
    case("TopK", [f32(4, 3, 2)], {1: i64(2)}, n_outputs=2, axis=0, id="axis0"),
    case("EyeLike", [f32(3, 5)], k=1),
    case("Hardmax", [np.array([[1, 3, 3], [2, 0, 1]], np.float32)]),
    case("Hardmax", [f32(2, 3, 4)], axis=1, id="axis1"),
    case("OneHot", [np.array([[0, 2], [-1, 1]], np.int64)],
         {1: np.array(3, np.int64), 2: np.array([0.0, 5.0], np.float32)}),
    case("OneHot", [np.array([1, 0, 2], np.int64)],
         {1: np.array(4, np.int64), 2: np.array([-1.0, 1.0], np.float32)}, axis=0, id="axis0"),
    case("LpNormalization", [f32(3, 4)], p=1),
    case("LpNormalization", [f32(3, 4, 2)], p=2, axis=1, id="l2"),
]

SCATTER = [
    case("GatherND", [f32(3, 4, 5)], {1: np.array([[0, 1], [2, -1]], np.int64)}),
    case("GatherND", [f32(3, 4)], {1: np.array([[[1, 2]], [[0, 0]]], np.int64)}, id="3d-indices"),
    case("GatherND", [f32(3, 4), np.array([[2], [0]], np.int64)], id="indices-input"),
    case("ScatterND", [f32(4, 3), np.array([[1], [3]], np.int64), f32(2, 3)]),
    case("ScatterND", [f32(4, 3)], {1: np.array([[1, 2], [0, 0]], np.int64),
                                    2: np.array([5.0, 6.0], np.float32)}, id="points"),
    case("ScatterND", [f32(4, 3), np.array([[1], [1]], np.int64), f32(2, 3)], opset=16,
         reduction="add", id="add-repeated"),
    case("ScatterElements", [f32(3, 4), np.array([[1, 0, 2, -1]], np.int64), f32(1, 4)],
         axis=0),
    case("ScatterElements", [f32(3, 4), np.array([[3, 0], [1, 1]], np.int64), f32(2, 2)],
         axis=1, reduction="mul", opset=16, id="mul-axis1"),
]

def recurrent(op: str, seq: int = 5, batch: int = 2, size: int = 3, hidden: int = 4,
              dirs: int = 1, bias: bool = True, initial: bool = False, peepholes: bool = False,
              id: str = "", **attrs):
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    inputs = [f32(seq, batch, size), f32(dirs, gates * hidden, size, scale=0.5),
              f32(dirs, gates * hidden, hidden, scale=0.5)]
    inputs.append(f32(dirs, 2 * gates * hidden) if bias or initial or peepholes else None)
    if initial or peepholes:
        inputs += [None, f32(dirs, batch, hidden)]
        if op == "LSTM":
            inputs.append(f32(dirs, batch, hidden))
    if peepholes:
        inputs.append(f32(dirs, 3 * hidden))
    if attrs.get("layout"):
        inputs[0] = np.ascontiguousarray(inputs[0].transpose(1, 0, 2))
        inputs[5:] = [None if a is None else np.ascontiguousarray(a.transpose(1, 0, 2))
                      for a in inputs[5:]]
    n_outputs = 3 if op == "LSTM" else 2
    return case(op, inputs, hidden_size=hidden, n_outputs=n_outputs, id=id, **attrs)


RECURRENT = [
    recurrent("LSTM"),
    recurrent("LSTM", dirs=2, initial=True, direction="bidirectional", id="bidirectional"),
    recurrent("LSTM", peepholes=True, direction="reverse", id="peepholes-reverse"),
    recurrent("LSTM", seq=1, bias=False, id="one-step-no-bias"),
    recurrent("GRU"),
    recurrent("GRU", linear_before_reset=1, initial=True, id="linear-before-reset"),
    recurrent("GRU", dirs=2, direction="bidirectional", id="bidirectional"),
    recurrent("RNN", direction="reverse", id="reverse"),
    recurrent("RNN", dirs=2, initial=True, direction="bidirectional", id="bidirectional"),
]

ALL = (ACTIVATIONS + ALONG_AXIS + NORM + WINDOWS + COMPOSITES + RESIZE + LAYOUT + EINSUM + MISC
       + SCATTER + RECURRENT)


@pytest.mark.parametrize("op, inputs, consts, opset, n_outputs, attrs", ALL)
def test_op_matches_onnxruntime(op, inputs, consts, opset, n_outputs, attrs):
    model, feeds = one_node_model(op, inputs, consts, n_outputs=n_outputs, opset=opset,
                                  **attrs)
    assert_matches_ort(model, feeds, rtol=1e-5, atol=2e-5)


# -- the JAX lowering of the same ops --------------------------------------------------------------

NEW_OPS = ["elu", "selu", "softplus", "shrink", "sign", "cos", "sin", "isnan", "cumsum",
           "gather_elements", "instance_norm", "lrn", "conv_nd", "max_pool_nd", "avg_pool_nd",
           "conv_transpose", "floor", "ceil", "round", "tan", "asin", "acos", "atan", "sinh",
           "cosh", "asinh", "acosh", "atanh", "topk", "gather_nd", "scatter_nd",
           "scatter_elements"]


@pytest.mark.parametrize("name", NEW_OPS)
def test_lowering_matches_eager(name: str) -> None:
    """Each op on its example (tests/op_examples.py): the XLA lowering equals our eager run."""
    pytest.importorskip("jax")
    from op_examples import EXAMPLES

    from mlxa.compare.xla import check_lowering
    from mlxa.ir.builder import GraphBuilder

    arrays, attrs = EXAMPLES[name]()
    b = GraphBuilder(name)
    values = [b.input(a.shape, a.dtype) for a in arrays]
    graph = b.build(*b.op_multi(name, *values, **attrs))
    check = check_lowering(graph, list(arrays))
    assert check["passed"], check


def test_batch_first_lstm_is_the_transposed_sequence_first_one() -> None:
    """ONNX Runtime refuses layout=1: the batch-first model on transposed inputs must give the
    transposed outputs of ORT's sequence-first run."""
    from onnx_models import run_ort, run_ours

    p = recurrent("LSTM", initial=True, opset=14).values
    inputs, attrs = p[1], p[5]
    model, feeds = one_node_model("LSTM", inputs, n_outputs=3, opset=14, **attrs)
    want = run_ort(model, feeds)
    first = [None if a is None else np.ascontiguousarray(np.swapaxes(a, 0, 1)) if a.ndim == 3
             and k in (0, 5, 6) else a for k, a in enumerate(inputs)]
    model, feeds = one_node_model("LSTM", first, n_outputs=3, opset=14, layout=1, **attrs)
    eager, compiled = run_ours(model, feeds)
    for w, e, c, perm in zip(want, eager, compiled, ((2, 0, 1, 3), (1, 0, 2), (1, 0, 2))):
        np.testing.assert_allclose(e, np.transpose(w, perm), rtol=1e-5, atol=2e-5)
        np.testing.assert_allclose(c, e, rtol=1e-6, atol=1e-6)


# -- bad nodes: one line naming the node ----------------------------------------------------------

def ones(*shape: int) -> np.ndarray:
    return np.ones(shape, np.float32)


BAD = [
    case("TopK", [ones(3, 4)], {1: i64(9)}, n_outputs=2, id="k-too-large"),
    case("ConvTranspose", [ones(1, 3, 4, 4), ones(2, 2, 3, 3)], id="channels"),
    case("ConvTranspose", [ones(1, 2, 4, 4), ones(2, 2, 3, 3)], pads=[5, 5, 5, 5],
         id="pads-crop-everything"),
    case("Einsum", [ones(3, 4), ones(5, 6)], equation="ij,jk->ik", opset=12, id="sizes"),
    case("Einsum", [ones(3, 3)], equation="ii->i", opset=12, id="diagonal"),
    case("Resize", [ones(1, 1, 2, 2), None], {2: np.array([1, 1, 0, 2], np.float32)},
         opset=13, id="zero-scale"),
    case("Resize", [ones(1, 1, 2, 2), None], {2: np.array([1, 1, 2, 2], np.float32)},
         opset=13, mode="cubic", id="cubic"),
    case("CumSum", [ones(3, 4)], {1: np.array(5, np.int64)}, id="axis"),
    case("GatherElements", [ones(3, 4), np.zeros((3, 5), np.int64)], id="indices-wider"),
    case("DepthToSpace", [ones(1, 3, 2, 2)], blocksize=2, id="channels"),
    case("GroupNormalization", [ones(1, 3, 4), ones(3), ones(3)], num_groups=2, opset=21,
         id="groups"),
    case("OneHot", [i64(1, 2)], {1: np.array(0, np.int64), 2: np.array([0, 1], np.float32)},
         id="depth-0"),
    case("Elu", [ones(3)], alpha=float("inf"), id="alpha-inf"),
    case("MaxPool", [ones(1, 1, 3, 3, 3)], kernel_shape=[5, 5, 5], id="3d-window-too-large"),
]


@pytest.mark.parametrize("op, inputs, consts, opset, n_outputs, attrs", BAD)
def test_a_bad_node_is_refused_in_one_line_naming_it(op, inputs, consts, opset, n_outputs,
                                                     attrs):
    from mlxa.errors import MlxaError
    from mlxa.frontends.onnx_import import load_onnx

    model, feeds = one_node_model(op, inputs, consts, n_outputs=n_outputs, opset=opset,
                                  **attrs)
    with pytest.raises(MlxaError) as e:
        load_onnx(model, {k: v.shape for k, v in feeds.items()})
    assert f"{op} ({op.lower()}_node)" in str(e.value) and "\n" not in str(e.value)
