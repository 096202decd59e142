"""The ONNX importer: shape subgraphs folded, dynamic dims bound, unsupported ops listed at once,
external data kept inside the model's folder, bad files refused with one clear error."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper
from onnx_models import IR_VERSION, assert_matches_ort, one_node_model, run_ort, tensor_info

from mlxa.errors import UnsupportedOpError, UserInputError
from mlxa.frontends.onnx_import import load_onnx
from mlxa.runtime.eager import EagerModel

RNG = np.random.default_rng(11)


def model_of(nodes, inputs, outputs, inits=(), opset: int = 17):
    graph = helper.make_graph(nodes, "test", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=IR_VERSION)


def init(name: str, array) -> TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def attention_like(batch: str | int = "batch"):
    """x[batch, 4, 8] @ W, reshaped to [batch, 4, 2, 4] by a shape subgraph, transposed,
    softmaxed: the pattern exporters emit for multi-head attention."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["b"], axis=0),
        helper.make_node("Unsqueeze", ["b", "axes0"], ["bu"]),
        helper.make_node("Concat", ["bu", "rest"], ["target"], axis=0),
        helper.make_node("MatMul", ["x", "w"], ["h"]),
        helper.make_node("Reshape", ["h", "target"], ["r"]),
        helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1, 3]),
        helper.make_node("Softmax", ["t"], ["y"], axis=-1),
    ]
    inits = [init("w", RNG.standard_normal((8, 8)).astype(np.float32)),
             init("zero", np.array(0, np.int64)), init("axes0", np.array([0], np.int64)),
             init("rest", np.array([-1, 2, 4], np.int64))]
    x = tensor_info("x", shape=[batch, 4, 8])
    return model_of(nodes, [x], [helper.make_empty_tensor_value_info("y")], inits)


def test_shape_subgraph_folds_to_constants() -> None:
    graph = load_onnx(attention_like(), {"x": (3, 4, 8)})
    assert [n.op for n in graph.nodes] == ["matmul", "reshape", "transpose", "softmax"]
    assert graph.nodes[1].attrs["shape"] == (3, 4, 2, 4)
    feeds = {"x": RNG.standard_normal((3, 4, 8)).astype(np.float32)}
    assert_matches_ort(attention_like(), feeds)


def test_bound_dims_give_the_input_type() -> None:
    graph = load_onnx(attention_like(), {"x": (5, 4, 8)})
    assert graph.inputs[0].shape == (5, 4, 8)
    assert graph.outputs[0].shape == (5, 2, 4, 4)


@pytest.mark.parametrize("shapes, match", [
    (None, r"input 'x' has dynamic shape \[batch,4,8\]"),
    ({"x": (3, 4)}, "does not fit its declared"),
    ({"x": (3, 5, 8)}, "does not fit its declared"),
    ({"x": (0, 4, 8)}, "must be positive"),
    ({"x": (3, 4, 8), "y": (1,)}, "no input named 'y'"),
])
def test_bad_bindings_are_refused(shapes, match) -> None:
    with pytest.raises(UserInputError, match=match):
        load_onnx(attention_like(), shapes)


def test_unsupported_ops_are_listed_together() -> None:
    x = tensor_info("x", shape=[1, 3, 4, 4])
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="ok"),
        helper.make_node("Unique", ["a"], ["b"], name="up"),
        helper.make_node("NonZero", ["b"], ["c"], name="nz"),
        helper.make_node("FusedThing", ["c"], ["y"], name="custom", domain="com.example"),
    ]
    model = model_of(nodes, [x], [helper.make_empty_tensor_value_info("y")],
                     [init("scales", np.ones(4, np.float32))])
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(UnsupportedOpError) as err:
        load_onnx(model)
    message = str(err.value)
    assert "\n" not in message
    for part in ("3 unsupported", "Unique (up)", "NonZero (nz)", "com.example.FusedThing (custom)"):
        assert part in message
    assert "Relu" not in message


def test_values_that_depend_on_inputs_cannot_be_shapes() -> None:
    nodes = [helper.make_node("Cast", ["x"], ["s"], to=TensorProto.INT64),
             helper.make_node("Reshape", ["x", "s"], ["y"], name="dyn")]
    model = model_of(nodes, [tensor_info("x", shape=[2])],
                     [helper.make_empty_tensor_value_info("y")])
    with pytest.raises(UserInputError, match=r"Reshape \(dyn\): shape .* must be a constant"):
        load_onnx(model)


def test_unsupported_second_output_is_an_error_only_when_read() -> None:
    x = tensor_info("x", shape=[1, 1, 4, 4])
    pool = helper.make_node("MaxPool", ["x"], ["y", "idx"], kernel_shape=[2, 2], name="mp")
    model = model_of([pool], [x], [helper.make_empty_tensor_value_info("y")])
    assert load_onnx(model).outputs[0].shape == (1, 1, 3, 3)
    model = model_of([pool], [x], [helper.make_empty_tensor_value_info("idx")])
    with pytest.raises(UserInputError, match=r"output 1 of MaxPool \(mp\)"):
        load_onnx(model)


def test_outputs_that_are_inputs_or_constants() -> None:
    nodes = [helper.make_node("Identity", ["x"], ["same"]),
             helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Dropout", ["x"], ["drop"])]
    outputs = [helper.make_empty_tensor_value_info(n) for n in ("same", "shape", "drop")]
    model = model_of(nodes, [tensor_info("x", shape=[2, 3])], outputs)
    feeds = {"x": RNG.standard_normal((2, 3)).astype(np.float32)}
    assert_matches_ort(model, feeds)


def test_older_opsets_are_upgraded_newer_refused() -> None:
    model, feeds = one_node_model("Relu", [RNG.standard_normal((2, 3)).astype(np.float32)],
                                  opset=11)
    assert_matches_ort(model, feeds)
    model, _ = one_node_model("Relu", [np.zeros(2, np.float32)], opset=23)
    with pytest.raises(UserInputError, match="opset 23 is not supported"):
        load_onnx(model)


def test_unsqueeze_squeeze_of_scalar_params_keep_rank() -> None:
    """Scalar constants stay scalars in the IR (parameters are stored at least 1-D)."""
    model, feeds = one_node_model("Gather", [RNG.standard_normal((4, 3)).astype(np.float32)],
                                  {1: np.array(2, np.int64)}, axis=0)
    graph = load_onnx(model)
    assert graph.outputs[0].shape == (3,)
    assert_matches_ort(model, feeds)


# -- files ---------------------------------------------------------------------------------------

def saved_conv(tmp_path, external: bool = False):
    model, feeds = one_node_model("Conv", [RNG.standard_normal((1, 3, 8, 8)).astype(np.float32)],
                                  {1: RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)},
                                  pads=[1, 1, 1, 1])
    path = tmp_path / "conv.onnx"
    onnx.save(model, path, save_as_external_data=external, all_tensors_to_one_file=True,
              location="conv.bin", size_threshold=0)
    return path, feeds


def test_external_data_inside_the_folder_loads(tmp_path) -> None:
    path, feeds = saved_conv(tmp_path, external=True)
    assert (tmp_path / "conv.bin").exists()
    graph = load_onnx(path)
    (w,) = graph.params.values()
    assert w.shape == (4, 3, 3, 3)
    (want,) = run_ort(onnx.load(path), feeds)
    np.testing.assert_allclose(EagerModel(graph)(feeds["x0"])[0], want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("location", ["../conv.bin", "/etc/passwd", "sub/../../conv.bin"])
def test_external_data_outside_the_folder_is_refused(tmp_path, location) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    path, _ = saved_conv(tmp_path, external=True)  # tmp_path/conv.bin exists, outside `folder`
    model = onnx.load(path, load_external_data=False)
    for entry in model.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = location
    bad = folder / "bad.onnx"
    bad.write_bytes(model.SerializeToString())
    with pytest.raises(UserInputError, match="outside the model's folder"):
        load_onnx(bad)


@pytest.mark.parametrize("content", [
    b"", b"not an onnx model at all\n", bytes(RNG.integers(0, 256, 4096, dtype=np.uint8)),
])
def test_non_onnx_files_are_refused(tmp_path, content) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(UserInputError, match="is not an ONNX model"):
        load_onnx(path)


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9, 0.99])
def test_truncated_files_are_refused(tmp_path, fraction) -> None:
    path, _ = saved_conv(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * fraction)])
    with pytest.raises(UserInputError):
        load_onnx(path)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(UserInputError, match="does not exist"):
        load_onnx(tmp_path / "nope.onnx")


def test_malformed_nodes_are_user_errors() -> None:
    model = model_of([helper.make_node("Add", ["x"], ["y"], name="half")],
                     [tensor_info("x", shape=[2])], [helper.make_empty_tensor_value_info("y")])
    with pytest.raises(UserInputError, match=r"Add \(half\): .*input size 1 not in range"):
        load_onnx(model)
    model = model_of([helper.make_node("Split", ["x"], ["a", "b"], axis=5, name="cut")],
                     [tensor_info("x", shape=[2])], [helper.make_empty_tensor_value_info("a")])
    with pytest.raises(UserInputError, match=r"Split \(cut\): "):
        load_onnx(model)
