"""`mlxa analyze MODEL.onnx` in a subprocess: a good model is analysed; every bad input is one
line on stderr, exit code 2, no traceback and no report written."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from cli_helpers import assert_one_line_error, run_cli
from onnx import helper, numpy_helper
from onnx_models import IR_VERSION, tensor_info
from onnx_mutations import HOSTILE

RNG = np.random.default_rng(5)
FAST = ("--warmup", "0", "--repeat", "2", "--quiet")


def small_cnn(path, batch: str | int = "N"):
    """conv -> relu -> global pool -> flatten, with a dynamic batch dim."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["g"]),
             helper.make_node("Flatten", ["g"], ["y"])]
    w = numpy_helper.from_array(RNG.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(nodes, "small", [tensor_info("x", shape=[batch, 3, 8, 8])],
                              [helper.make_empty_tensor_value_info("y")], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              ir_version=IR_VERSION)
    onnx.save(model, path)
    return path


def reports(out) -> list:
    return sorted(p.name for p in out.iterdir()) if out.exists() else []


def test_analyze_an_onnx_model(tmp_path) -> None:
    model = small_cnn(tmp_path / "small.onnx")
    out = tmp_path / "reports"
    proc = run_cli("analyze", str(model), "--input-shape", "x=2x3x8x8", "--out", str(out), *FAST)
    assert proc.returncode == 0, proc.stderr
    assert reports(out) == ["small.json", "small.txt"]
    proc = run_cli("analyze", str(model), "--input-shape", "x=1x3x8x8", "--input", "1,2",
                   "--out", str(out), "--name", "tiled", *FAST)
    assert proc.returncode == 0, proc.stderr


def bad_external(tmp_path):
    model = onnx.load(small_cnn(tmp_path / "m.onnx", batch=1))
    onnx.save(model, tmp_path / "ext.onnx", save_as_external_data=True, location="w.bin",
              size_threshold=0)
    model = onnx.load(tmp_path / "ext.onnx", load_external_data=False)
    for entry in model.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = "../w.bin"
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "escape.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def unsupported(tmp_path):
    nodes = [helper.make_node("NonZero", ["x"], ["a"], name="nz"),
             helper.make_node("Unique", ["a"], ["y"], name="uq")]
    graph = helper.make_graph(nodes, "g", [tensor_info("x", shape=[1, 3, 4, 4])],
                              [helper.make_empty_tensor_value_info("y")],
                              [numpy_helper.from_array(np.ones(4, np.float32), "s")])
    path = tmp_path / "unsupported.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                ir_version=IR_VERSION), path)
    return path


def truncated(tmp_path):
    path = small_cnn(tmp_path / "t.onnx")
    path.write_bytes(path.read_bytes()[:200])
    return path


def random_bytes(tmp_path):
    path = tmp_path / "random.onnx"
    path.write_bytes(bytes(RNG.integers(0, 256, 2000, dtype=np.uint8)))
    return path


@pytest.mark.parametrize("make, extra, needle", [
    (truncated, ("--input-shape", "x=1x3x8x8"), "not an onnx model"),
    (random_bytes, (), "not an onnx model"),
    (unsupported, (), "NonZero (nz), Unique (uq)"),
    (lambda p: small_cnn(p / "dyn.onnx"), (), "input 'x' has dynamic shape [N,3,8,8]"),
    (bad_external, (), "outside the model's folder"),
    (lambda p: small_cnn(p / "m.onnx"), ("--input-shape", "x=1x3"), "does not fit"),
    (lambda p: small_cnn(p / "m.onnx"), ("--input-shape", "x=1xZ"), "--input-shape"),
    (lambda p: small_cnn(p / "m.onnx"), ("--input-shape", "y=1x3x8x8"), "no input named 'y'"),
    (lambda p: p / "missing.onnx", (), "does not exist"),
    (HOSTILE["constant_of_shape_3.6TiB"][0], (), "needs about"),
    (HOSTILE["external_fifo"][0], (), "not a regular file"),
], ids=["truncated", "random-bytes", "unsupported", "missing-shape", "external-escape",
        "wrong-rank", "bad-syntax", "unknown-input", "missing-file", "memory-bomb", "fifo"])
def test_bad_models_fail_in_one_line(tmp_path, make, extra, needle) -> None:
    path = make(tmp_path)
    out = tmp_path / "reports"
    proc = run_cli("analyze", str(path), *extra, "--out", str(out), *FAST)
    assert_one_line_error(proc, needle)
    assert reports(out) == []
