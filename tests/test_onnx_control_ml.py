"""ONNX control flow and ai.onnx.ml: an If on a constant condition imports as its taken branch;
Loop, Scan, sequence ops and an If on the model's inputs are refused in one line that lists them;
the scikit-learn ops (Scaler, Normalizer, ArrayFeatureExtractor, LinearRegressor,
LinearClassifier, ZipMap) match ONNX Runtime; tree ensembles are refused with the reason."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper
from onnx_models import IR_VERSION, run_ort, run_ours

from mlxa.errors import UnsupportedOpError, UserInputError
from mlxa.frontends.onnx_import import load_onnx

RNG = np.random.default_rng(5)
ML = helper.make_opsetid("ai.onnx.ml", 3)


def model(nodes, inputs, outputs, inits=(), ml: bool = False):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    opsets = [helper.make_opsetid("", 17)] + ([ML] if ml else [])
    return helper.make_model(graph, opset_imports=opsets, ir_version=IR_VERSION)


def info(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def assert_matches_ort(m, feeds, atol=1e-5) -> None:
    want = run_ort(m, feeds)
    eager, compiled = run_ours(m, feeds)
    assert len(eager) == len(want)
    for w, e, c in zip(want, eager, compiled):
        assert e.dtype == w.dtype and e.shape == w.shape, (e.dtype, e.shape, w.dtype, w.shape)
        np.testing.assert_allclose(e, w, rtol=1e-5, atol=atol)
        np.testing.assert_allclose(c, e, rtol=1e-6, atol=1e-6)


# -- control flow ---------------------------------------------------------------------------------

def _branch(name, op, outer, out):
    return helper.make_graph([helper.make_node(op, [outer], [out], name=f"{name}_op")], name,
                             [], [info(out, [2, 3])])


def if_model(cond_from_input: bool):
    """y = If(cond) then relu(x) else neg(x); cond = (sum of shape of x) > 3, or an input."""
    x = info("x", [2, 3])
    nodes = []
    if cond_from_input:
        nodes.append(helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0, name="sum"))
        nodes.append(helper.make_node("Greater", ["s", "zero"], ["cond"], name="test"))
    else:
        nodes.append(helper.make_node("Shape", ["x"], ["shape"], name="shape"))
        nodes.append(helper.make_node("ReduceSum", ["shape"], ["total"], keepdims=0,
                                      name="total"))
        nodes.append(helper.make_node("Greater", ["total", "three"], ["cond"], name="test"))
    nodes.append(helper.make_node("If", ["cond"], ["y"], name="branch",
                                  then_branch=_branch("then", "Relu", "x", "t"),
                                  else_branch=_branch("else", "Neg", "x", "e")))
    inits = [numpy_helper.from_array(np.array(3, np.int64), "three"),
             numpy_helper.from_array(np.array(0, np.float32), "zero")]
    return model(nodes, [x], [info("y", [2, 3])], inits)


def test_an_if_on_a_constant_condition_is_its_taken_branch() -> None:
    m = if_model(cond_from_input=False)
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    assert_matches_ort(m, {"x": x})
    assert [n.op for n in load_onnx(m).nodes] == ["relu"]


def test_an_if_on_the_inputs_is_refused_naming_it() -> None:
    with pytest.raises(UserInputError, match=r"If \(branch\): the condition depends on"):
        load_onnx(if_model(cond_from_input=True))


def test_loops_scans_and_sequences_are_refused_in_one_message() -> None:
    body = helper.make_graph([helper.make_node("Identity", ["c"], ["c_out"]),
                              helper.make_node("Identity", ["v"], ["v_out"])], "body",
                             [info("i", [], TensorProto.INT64), info("c", [], TensorProto.BOOL),
                              info("v", [2])],
                             [info("c_out", [], TensorProto.BOOL), info("v_out", [2])])
    nodes = [helper.make_node("Loop", ["n", "", "x"], ["y"], body=body, name="loop"),
             helper.make_node("SequenceConstruct", ["x", "y"], ["seq"], name="seq"),
             helper.make_node("ConcatFromSequence", ["seq"], ["z"], axis=0, name="cat")]
    m = model(nodes, [info("x", [2])], [info("z", [4])],
              [numpy_helper.from_array(np.array(3, np.int64), "n")])
    with pytest.raises(UnsupportedOpError) as e:
        load_onnx(m)
    message = str(e.value)
    for named in ("Loop (loop)", "SequenceConstruct (seq)", "ConcatFromSequence (cat)"):
        assert named in message
    assert "static" in message and "\n" not in message


# -- ai.onnx.ml ------------------------------------------------------------------------------------

def one_ml_node(op, x, n_outputs=1, **attrs):
    outs = [f"y{k}" for k in range(n_outputs)]
    node = helper.make_node(op, ["x"], outs, domain="ai.onnx.ml", name=f"{op.lower()}_node",
                            **attrs)
    return model([node], [info("x", list(x.shape), helper.np_dtype_to_tensor_dtype(x.dtype))],
                 [helper.make_empty_tensor_value_info(o) for o in outs], ml=True), {"x": x}


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("x, attrs", [
    (f32(4, 3), {"offset": [0.5, -1.0, 2.0], "scale": [2.0, 0.5, 1.5]}),
    (f32(4, 3), {"offset": [0.5], "scale": [3.0]}),
    (RNG.standard_normal((4, 3)), {"offset": [0.1, 0.2, 0.3], "scale": [1.0, 2.0, 3.0]}),
], ids=["per-feature", "one-value", "float64-input"])
def test_scaler_matches_onnxruntime(x, attrs) -> None:
    assert_matches_ort(*one_ml_node("Scaler", x, **attrs))


@pytest.mark.parametrize("norm", ["MAX", "L1", "L2"])
def test_normalizer_matches_onnxruntime(norm) -> None:
    assert_matches_ort(*one_ml_node("Normalizer", np.abs(f32(5, 4)) + 0.1, norm=norm))


def test_array_feature_extractor_matches_onnxruntime() -> None:
    node = helper.make_node("ArrayFeatureExtractor", ["x", "idx"], ["y"], domain="ai.onnx.ml")
    m = model([node], [info("x", [3, 5])], [helper.make_empty_tensor_value_info("y")],
              [numpy_helper.from_array(np.array([4, 0, 2], np.int64), "idx")], ml=True)
    assert_matches_ort(m, {"x": f32(3, 5)})


def test_linear_regressor_matches_onnxruntime() -> None:
    assert_matches_ort(*one_ml_node("LinearRegressor", f32(6, 3), targets=2,
                                    coefficients=f32(6).tolist(), intercepts=[0.5, -1.0]))


@pytest.mark.parametrize("classes, transform", [
    (2, "NONE"), (2, "LOGISTIC"), (3, "NONE"), (3, "LOGISTIC"), (3, "SOFTMAX"), (2, "SOFTMAX")])
def test_linear_classifier_matches_onnxruntime(classes, transform) -> None:
    rows = 1 if classes == 2 else classes
    m, feeds = one_ml_node("LinearClassifier", f32(7, 4), n_outputs=2,
                           coefficients=f32(rows * 4).tolist(), intercepts=f32(rows).tolist(),
                           classlabels_ints=list(range(10, 10 + classes)),
                           post_transform=transform)
    assert_matches_ort(m, feeds)


def test_a_logistic_regression_pipeline_with_zipmap_imports() -> None:
    """skl2onnx's shape of a classifier: LinearClassifier, Normalizer, ZipMap to a sequence of
    maps; the import keeps ZipMap's tensor of probabilities."""
    nodes = [helper.make_node("LinearClassifier", ["x"], ["label", "scores"],
                              domain="ai.onnx.ml", coefficients=f32(12).tolist(),
                              intercepts=[0.1, 0.2, 0.3], classlabels_ints=[0, 1, 2],
                              post_transform="LOGISTIC"),
             helper.make_node("Normalizer", ["scores"], ["probs"], domain="ai.onnx.ml",
                              norm="L1"),
             helper.make_node("ZipMap", ["probs"], ["out"], domain="ai.onnx.ml",
                              classlabels_int64s=[0, 1, 2])]
    seq = helper.make_value_info(
        "out", helper.make_sequence_type_proto(helper.make_map_type_proto(
            TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, []))))
    m = model(nodes, [info("x", [5, 4])], [info("label", [5], TensorProto.INT64), seq], ml=True)
    x = f32(5, 4)
    want_label, want_maps = run_ort(m, {"x": x})
    eager, compiled = run_ours(m, {"x": x})
    np.testing.assert_array_equal(eager[0], want_label)
    want = np.array([[row[k] for k in range(3)] for row in want_maps], np.float32)
    np.testing.assert_allclose(eager[1], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(compiled[1], eager[1], rtol=1e-6, atol=1e-6)


def test_tree_ensembles_are_refused_with_the_reason() -> None:
    m, _ = one_ml_node("TreeEnsembleRegressor", f32(2, 3), n_targets=1, nodes_nodeids=[0],
                       nodes_treeids=[0], nodes_featureids=[0], nodes_modes=["LEAF"],
                       nodes_values=[0.0], nodes_truenodeids=[0], nodes_falsenodeids=[0],
                       target_ids=[0], target_nodeids=[0], target_treeids=[0],
                       target_weights=[1.0])
    with pytest.raises(UnsupportedOpError, match="TreeEnsembleRegressor .*Tree ensembles are "
                                                 "refused"):
        load_onnx(m)
