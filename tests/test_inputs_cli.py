"""The batch and the inputs of every model source: default batch per source, `--batch` binding an
ONNX model's dynamic batch (refused when fixed), and `--inputs FILE` (.npy, .npz, TensorProto
.pb, test_data_set_N), checked against the model's inputs with errors quoting the path as typed,
never unpickled, and the memory budget checked before anything is read."""

from __future__ import annotations

import pathlib
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_one_line_error, run_cli

from mlxa.cli.input_files import InputArray, read_inputs
from mlxa.cli.main import build_parser
from mlxa.cli.model_args import load_model
from mlxa.cli.model_sources import LoadedModel
from mlxa.errors import UserInputError
from mlxa.ir.graph import TensorType

CNN_SAMPLE = (1, 28, 28)  # small_cnn's input at its default sizes


def load(*argv: str) -> LoadedModel:
    return load_model(build_parser().parse_args(["show", *argv]))


def user_error(*argv: str) -> str:
    with pytest.raises(UserInputError) as e:
        load(*argv)
    return str(e.value)


# -- the batch of each source --------------------------------------------------------------------

def test_default_batch_is_32_for_the_mlp_and_1_for_zoo_models() -> None:
    assert load("--hidden", "8").graph.inputs[0].shape[0] == 32
    assert load("--model", "small_cnn").graph.inputs[0].shape[0] == 1
    assert load("--model", "small_cnn", "--batch", "3").info["batch"] == 3


def test_help_documents_the_batch_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["show", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "32 for the MLP, 1 for other zoo models" in text
    assert "--inputs FILE" in text


def test_torch_refuses_batch_and_inputs() -> None:
    assert "does not apply to --torch" in user_error("--torch", "pkg.mod:f", "--batch", "2")
    assert "does not apply to --torch" in user_error("--torch", "pkg.mod:f", "--inputs", "x.npy")


# -- --inputs for the MLP and zoo models ---------------------------------------------------------

def test_npy_gives_the_inputs_and_the_batch(tmp_path: Path) -> None:
    x = np.random.default_rng(0).standard_normal((3, *CNN_SAMPLE)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    model = load("--model", "small_cnn", "--inputs", str(tmp_path / "x.npy"))
    assert model.info["batch"] == 3
    np.testing.assert_array_equal(model.inputs[0], x)
    mlp_input = np.ones((5, 1024), np.float32)
    np.save(tmp_path / "m.npy", mlp_input)
    mlp = load("--hidden", "8", "--inputs", str(tmp_path / "m.npy"))
    assert mlp.graph.inputs[0].shape == (5, 1024)


def test_big_endian_files_are_read_as_the_model_s_dtype(tmp_path: Path) -> None:
    x = np.arange(np.prod(CNN_SAMPLE), dtype=">f4").reshape(1, *CNN_SAMPLE)
    np.save(tmp_path / "be.npy", x)
    model = load("--model", "small_cnn", "--inputs", str(tmp_path / "be.npy"))
    assert model.inputs[0].dtype == np.float32
    np.testing.assert_array_equal(model.inputs[0], x)


def test_npz_arrays_are_matched_by_input_name(tmp_path: Path) -> None:
    x = np.zeros((2, *CNN_SAMPLE), np.float32)
    np.savez(tmp_path / "one.npz", anything=x)  # one array for one input: its name is free
    assert load("--model", "small_cnn", "--inputs", str(tmp_path / "one.npz")).info["batch"] == 2
    np.savez(tmp_path / "two.npz", input_0=x, extra=x)
    message = user_error("--model", "small_cnn", "--inputs", str(tmp_path / "two.npz"))
    assert "named after the model's inputs (input_0)" in message and "'extra'" in message


@pytest.mark.parametrize("array, extra, needle", [
    (np.zeros((2, 1, 28, 28), np.float64), (), "is f32[2,1,28,28], the file holds f64"),
    (np.zeros((2, 3, 28, 28), np.float32), (), "the file holds f32[2,3,28,28]"),
    (np.zeros((2, 1, 28, 28), np.float32), ("--batch", "4"), "--batch 4, but --inputs"),
    (np.zeros((2, 1, 28, 28), np.float32), ("--input", "1,2"), "not both"),
], ids=["dtype", "shape", "batch", "input-and-inputs"])
def test_mismatches_are_user_errors(tmp_path: Path, array: np.ndarray, extra: tuple[str, ...],
                                    needle: str) -> None:
    np.save(tmp_path / "x.npy", array)
    assert needle in user_error("--model", "small_cnn", "--inputs", str(tmp_path / "x.npy"),
                                *extra)


def test_errors_quote_the_path_as_typed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    np.save(tmp_path / "sub" / "x.npy", np.zeros((1, 2), np.float32))
    assert "--inputs 'sub/x.npy'" in user_error("--model", "small_cnn", "--inputs", "sub/x.npy")
    assert "'sub/nope.npy' does not exist" in user_error("--inputs", "sub/nope.npy")
    (tmp_path / "sub" / "x.txt").write_text("1 2 3")
    assert "expected a .npy, .npz" in user_error("--inputs", "sub/x.txt")
    (tmp_path / "sub" / "bad.npy").write_bytes(b"not numpy at all")
    assert "'sub/bad.npy': not a numpy .npy array" in user_error("--inputs", "sub/bad.npy")


class _Canary:
    """Unpickling this touches a file: a pickle that is ever loaded leaves a trace."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (pathlib.Path.touch, (self.path,))


def test_pickles_are_refused_unread(tmp_path: Path) -> None:
    canary = tmp_path / "unpickled"
    np.save(tmp_path / "obj.npy", np.array([_Canary(canary)], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "obj.npz", input_0=np.array([_Canary(canary)], dtype=object))
    for name in ("obj.npy", "obj.npz"):
        message = user_error("--model", "small_cnn", "--inputs", str(tmp_path / name))
        assert "never unpickled" in message
    assert not canary.exists()


def test_the_budget_is_checked_before_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    def never() -> np.ndarray:
        raise AssertionError("read despite the budget")

    t = TensorType.of((1024, 1024), np.float32)
    monkeypatch.setenv("MLXA_MEMORY_BUDGET", str(t.nbytes // 2))
    with pytest.raises(UserInputError, match="memory available"):
        read_inputs([InputArray("x", t, "'big.npy'", never)], [t], ["x"])


def test_a_bad_inputs_file_is_one_line_on_the_command_line(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((2, 5), np.float32))
    proc = run_cli("show", "--model", "small_cnn", "--inputs", str(tmp_path / "x.npy"))
    assert_one_line_error(proc, "the file holds f32[2,5]")


# -- ONNX models ---------------------------------------------------------------------------------

def two_input_model(path: Path, batch: str | int = "N") -> str:
    """y = x0 + x1 over [batch, 3]."""
    onnx = pytest.importorskip("onnx")
    from onnx import helper
    from onnx_models import IR_VERSION, tensor_info

    graph = helper.make_graph([helper.make_node("Add", ["x0", "x1"], ["y"], name="add")], "two",
                              [tensor_info("x0", shape=[batch, 3]),
                               tensor_info("x1", shape=[batch, 3])],
                              [helper.make_empty_tensor_value_info("y")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                ir_version=IR_VERSION), path)
    return str(path)


def test_onnx_batch_binds_a_dynamic_batch_and_keeps_a_fixed_one(tmp_path: Path) -> None:
    dynamic = two_input_model(tmp_path / "dyn.onnx")
    fixed = two_input_model(tmp_path / "fixed.onnx", batch=2)
    model = load(dynamic, "--batch", "4")
    assert [v.shape for v in model.graph.inputs] == [(4, 3), (4, 3)]
    assert model.info["batch"] == 4
    assert load(fixed, "--batch", "2").graph.inputs[0].shape == (2, 3)
    assert "has a fixed batch of 2" in user_error(fixed, "--batch", "3")
    assert "--input-shape gives x0=5x3" in user_error(dynamic, "--batch", "4",
                                                      "--input-shape", "x0=5x3")
    assert "dynamic shape" in user_error(dynamic)  # no --batch: nothing is guessed


def test_onnx_inputs_from_npz_pb_and_a_test_data_set(tmp_path: Path) -> None:
    numpy_helper = pytest.importorskip("onnx.numpy_helper")
    path = two_input_model(tmp_path / "dyn.onnx")
    x0, x1 = np.ones((2, 3), np.float32), np.full((2, 3), 2, np.float32)
    np.savez(tmp_path / "in.npz", x1=x1, x0=x0)
    model = load(path, "--inputs", str(tmp_path / "in.npz"))
    assert [v.shape for v in model.graph.inputs] == [(2, 3), (2, 3)]
    np.testing.assert_array_equal(model.inputs[1], x1)
    folder = tmp_path / "test_data_set_0"
    folder.mkdir()
    for i, a in enumerate((x0, x1)):
        (folder / f"input_{i}.pb").write_bytes(numpy_helper.from_array(a).SerializeToString())
    (folder / "output_0.pb").write_bytes(numpy_helper.from_array(x0 + x1).SerializeToString())
    model = load(path, "--inputs", str(folder))
    np.testing.assert_array_equal(model.inputs[0], x0)
    assert "holds 1 array(s); the model takes 2" in user_error(
        path, "--inputs", str(folder / "input_0.pb"))
    np.savez(tmp_path / "x0.npz", x0=x0)
    assert "missing 'x1'" in user_error(path, "--inputs", str(tmp_path / "x0.npz"))


def test_onnx_inputs_must_fit_the_declared_shape(tmp_path: Path) -> None:
    path = two_input_model(tmp_path / "fixed.onnx", batch=2)
    np.savez(tmp_path / "in.npz", x0=np.ones((3, 3), np.float32), x1=np.ones((3, 3), np.float32))
    message = user_error(path, "--inputs", str(tmp_path / "in.npz"))
    assert "input 'x0' of the model is [2,3], the file holds f32[3,3]" in message
