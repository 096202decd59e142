"""`mlxa quantize`: bad input is one line on stderr and exit 2, before any work; a run writes its
JSON, text and PNG together; the text renders from the JSON alone."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlxa.cli.main import main


def _one_line_error(capsys, argv: list[str], needle: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mlxa: error: "), err
    assert needle.lower() in err[0].lower(), err[0]


@pytest.mark.parametrize("argv, needle", [
    (["--model", "vgg"], "unknown model"),
    (["--model", "resnet18,"], "expected NAME"),
    (["--calibration-batches", "0"], "--calibration-batches must be a positive"),
    (["--eval", "-1"], "--eval must be a positive"),
    (["--threads", "0"], "--threads must be a positive"),
    (["--budget", "0"], "--budget"),
    (["--calibration", "kl"], "invalid choice"),
    (["--activations", "u4"], "invalid choice"),
    (["model.onnx", "--model", "resnet18"], "not both"),
    (["missing.onnx"], "missing.onnx"),
    (["--out", "/proc/nope"], "/proc/nope"),
    (["--out", ".", "--name", "../x"], "plain file name"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, needle) -> None:
    _one_line_error(capsys, ["quantize", *argv], needle)


def test_a_model_with_nothing_to_quantize_is_refused(capsys, tmp_path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                ir_version=10), str(path))
    _one_line_error(capsys, ["quantize", str(path)], "nothing to quantize")


def test_a_run_writes_json_text_and_png_together(capsys, tmp_path) -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("matplotlib")
    from mlxa.report.quantization_text import render_text

    argv = ["quantize", "--model", "digits_cnn", "--budget", "0.2", "--calibration-batches", "16",
            "--out", str(tmp_path), "--name", "digits", "--json"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits.json", "digits.png",
                                                          "digits.txt"]
    saved = json.loads((tmp_path / "digits.json").read_text())
    assert saved["schema"] == printed["schema"] == "mlxa.quantize/1"
    (study,) = saved["models"]
    assert study["size"]["ratio"] > 3.5
    assert set(study["latency_ms"]) >= {"mlxa_fp32", "mlxa_int8", "ort_fp32", "ort_mlxa_qdq",
                                        "ort_quantize_static"}
    task = study["accuracy"]["task_top1"]
    assert task["mlxa_fp32"] - task["mlxa_int8"] <= 0.005
    assert study["coverage"]["share"] > 0.95
    assert (tmp_path / "digits.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "digits.txt").read_text() == render_text(saved)


def test_a_random_backbone_without_onnx_runtime(capsys) -> None:
    argv = ["quantize", "--model", "small_cnn", "--no-ort", "--budget", "0.2",
            "--calibration-batches", "2", "--eval", "2", "--activations", "s8",
            "--calibration", "percentile"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "== small_cnn" in text and "smaller" in text and "ONNX Runtime FP32" not in text
    assert np.isfinite(float(text.split("mlxa_int8")[1].split("dB")[0]))


def test_an_onnx_file_with_an_average_pool_runs_in_both_quantizers(capsys, tmp_path) -> None:
    """ONNX Runtime 1.32 fuses DQ -> AveragePool -> Q and copies a default `dilations` onto
    QLinearAveragePool, which refuses it; the study drops the default so both models load."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from mlxa.frontends.onnx_export import to_onnx
    from mlxa.models.zoo import build

    path = tmp_path / "cnn.onnx"
    onnx.save(to_onnx(build("small_cnn", image=16, width=8)), str(path))
    argv = ["quantize", str(path), "--budget", "0.2", "--calibration-batches", "2", "--eval", "2"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "== cnn [1, 1, 16, 16]" in text and "its quantize_static" in text
    assert "refused" not in text
