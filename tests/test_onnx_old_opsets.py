"""Models from before opset 13 are upgraded; before opset 7 the per-channel PRelu slope of
legacy broadcasting is kept per channel, and a classic opset-3 CNN (Conv, Relu, LRN, MaxPool,
Gemm with broadcast) equals the same model written at opset 13 run by ONNX Runtime. Expand's
shape computed from other values' shapes folds to a constant."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper
from onnx_models import run_ort

from mlxa.compiler import CompileOptions
from mlxa.frontends.onnx_import import load_onnx
from mlxa.runtime.compiled import compile_model
from mlxa.runtime.eager import EagerModel

RNG = np.random.default_rng(9)


def info(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def build(nodes, inputs, outputs, inits, opset, ir_version):
    graph = helper.make_graph(nodes, "old", inputs, outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=ir_version)


def run_both(model, x):
    graph = load_onnx(model)
    return EagerModel(graph)(x)[0], compile_model(graph, CompileOptions(kernels=()))(x)[0]


@pytest.mark.parametrize("opset", [6, 3])
def test_prelu_before_opset_7_is_per_channel(opset) -> None:
    slope = np.array([0.1, 0.2, 0.3], np.float32)
    model = build([helper.make_node("PRelu", ["x", "slope"], ["y"], name="prelu")],
                  [info("x", [2, 3, 4, 5]), info("slope", [3])], [info("y", [2, 3, 4, 5])],
                  [numpy_helper.from_array(slope, "slope")], opset, 3)
    x = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)
    want = np.where(x > 0, x, slope.reshape(3, 1, 1) * x)
    for got in run_both(model, x):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def classic_cnn(opset: int):
    """conv -> relu -> LRN -> maxpool -> flatten -> gemm -> softmax, AlexNet's pieces."""
    rng = np.random.default_rng(0)  # the same weights at every opset
    w, b = rng.standard_normal((4, 3, 3, 3)).astype(np.float32), np.zeros(4, np.float32)
    fc, fb = rng.standard_normal((5, 36)).astype(np.float32), rng.standard_normal(5)
    gemm = {"transB": 1} if opset >= 7 else {"transB": 1, "broadcast": 1}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("LRN", ["r"], ["n"], size=3, alpha=1e-3, beta=0.75, bias=1.0),
             helper.make_node("MaxPool", ["n"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fc", "fb"], ["g"], **gemm),
             helper.make_node("Softmax", ["g"], ["y"])]
    inits = [numpy_helper.from_array(a, n) for a, n in
             ((w, "w"), (b, "b"), (fc, "fc"), (fb.astype(np.float32), "fb"))]
    inputs = [info("x", [1, 3, 6, 6])] + ([info(t.name, list(t.dims)) for t in inits]
                                         if opset < 7 else [])
    return build(nodes, inputs, [info("y", [1, 5])], inits, opset, 3 if opset < 7 else 7)


def test_an_opset_3_cnn_equals_its_opset_13_twin_in_onnxruntime() -> None:
    x = RNG.standard_normal((1, 3, 6, 6)).astype(np.float32)
    (want,) = run_ort(classic_cnn(13), {"x": x})
    for got in run_both(classic_cnn(3), x):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_expand_to_a_shape_computed_from_shapes_folds() -> None:
    """Expand(x, Concat(Shape(y)[0:1], [1, -1 -> 4 via Where])): the shape folds."""
    nodes = [helper.make_node("Shape", ["y"], ["sy"]),
             helper.make_node("Slice", ["sy", "zero", "one"], ["batch"]),
             helper.make_node("Concat", ["batch", "tail"], ["raw"], axis=0),
             helper.make_node("Equal", ["raw", "minus_one"], ["is_neg"]),
             helper.make_node("Where", ["is_neg", "ones", "raw"], ["shape"]),
             helper.make_node("Expand", ["x", "shape"], ["e"]),
             helper.make_node("Add", ["e", "y"], ["out"])]
    ints = {"zero": [0], "one": [1], "tail": [-1, 4], "minus_one": [-1], "ones": [1, 1, 1]}
    inits = [numpy_helper.from_array(np.array(v, np.int64), k) for k, v in ints.items()]
    model = build(nodes, [info("x", [1, 4]), info("y", [3, 1, 4])], [info("out", [3, 1, 4])],
                  inits, 17, 8)
    x, y = (RNG.standard_normal(s).astype(np.float32) for s in ((1, 4), (3, 1, 4)))
    (want,) = run_ort(model, {"x": x, "y": y})
    graph = load_onnx(model)
    assert [n.op for n in graph.nodes] == ["expand", "add"]
    np.testing.assert_allclose(EagerModel(graph)(x, y)[0], want, rtol=1e-6)


def expand_from_input(tmp_path):
    """Expand(x, shape) with the shape a graph input (ONNX's test_expand_shape_model)."""
    model = build([helper.make_node("Expand", ["x", "shape"], ["y"], name="grow")],
                  [info("x", [3, 1]), helper.make_tensor_value_info("shape", TensorProto.INT64,
                                                                    [3])],
                  [helper.make_empty_tensor_value_info("y")], [], 17, 8)
    folder = tmp_path / "test_data_set_0"
    folder.mkdir()
    x = RNG.standard_normal((3, 1)).astype(np.float32)
    for k, (name, array) in enumerate((("x", x), ("shape", np.array([2, 1, 4], np.int64)))):
        (folder / f"input_{k}.pb").write_bytes(numpy_helper.from_array(array, name)
                                               .SerializeToString())
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return path, folder, x


def test_an_expand_shape_read_from_an_input_folds_with_its_value(tmp_path) -> None:
    from cli_helpers import run_cli

    from mlxa.errors import UserInputError

    path, folder, x = expand_from_input(tmp_path)
    with pytest.raises(UserInputError, match="must be a constant"):
        load_onnx(path)
    graph = load_onnx(path, constant_inputs={"shape": np.array([2, 1, 4], np.int64)})
    assert len(graph.inputs) == 1 and [n.op for n in graph.nodes] == ["expand"]
    np.testing.assert_array_equal(EagerModel(graph)(x)[0], np.broadcast_to(x, (2, 3, 4)))
    proc = run_cli("analyze", str(path), "--inputs", str(folder), "--budget", "0.1",
                   "--out", str(tmp_path / "reports"))
    assert proc.returncode == 0, proc.stderr
    assert "Correctness Check: PASS" in proc.stdout
