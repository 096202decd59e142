"""The seed command line and every bad input of `analyze`, through a subprocess."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import ROOT, assert_one_line_error, run_cli, run_script


def test_seed_command(tmp_path) -> None:
    proc = run_script(ROOT / "analyze.py", "--input", "0.5, 1.2, -0.3", "--batch", "32",
                      "--mode", "both", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for heading in ("ML EXECUTION ANALYZER", "Mode: BOTH", "Batch Size: 32",
                    "Model: MLP (1024 -> 4096 -> 1024)", "COMPARISON & ANALYSIS", "Speedup: ",
                    "Memory Efficiency: ", "Correctness Check: PASS"):
        assert heading in out
    run = json.loads((tmp_path / "reports" / "mlp.json").read_text())
    assert (tmp_path / "reports" / "mlp.txt").read_text() in out
    assert run["schema"] == "mlxa.run/2"
    assert run["plan"]["arena_nbytes"] == 524_288
    assert run["optimized"]["memory"]["allocations_per_inference"] == 0
    assert run["comparison"]["correctness"]["passed"] is True
    assert run["meta"]["command"]


@pytest.mark.parametrize("mode", ["baseline", "optimized"])
def test_single_modes_through_console_script_module(tmp_path, mode) -> None:
    proc = run_cli("analyze", "--mode", mode, "--batch", "4", "--repeat", "3", "--warmup", "1",
                   "--out", str(tmp_path), "--name", "r", "--hidden", "64")
    assert proc.returncode == 0, proc.stderr
    run = json.loads((tmp_path / "r.json").read_text())
    other = "optimized" if mode == "baseline" else "baseline"
    assert run[mode] is not None and run[other] is None and run["comparison"] is None
    assert (run["plan"] is None) == (mode == "baseline")


def test_weights_file_is_used(tmp_path) -> None:
    from mlxa.models.mlp import MLPConfig, mlp_weights

    np.savez(tmp_path / "w.npz", **mlp_weights(MLPConfig(hidden=64, seed=5)))
    proc = run_cli("analyze", "--hidden", "64", "--weights", str(tmp_path / "w.npz"),
                   "--repeat", "2", "--warmup", "0", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert "w.npz" in (tmp_path / "out" / "mlp.json").read_text()


BAD = [
    (["--input", "abc"], "not a number"),
    (["--input", ""], "comma-separated"),
    (["--input", "1,,2"], "comma-separated"),
    (["--input", "nan"], "finite"),
    (["--input", "1, inf"], "finite"),
    (["--input", ",".join(["1"] * 1025)], "more than the input width"),
    (["--batch", "0"], "--batch"),
    (["--batch", "-3"], "--batch"),
    (["--batch", "abc"], "--batch"),
    (["--batch", "1.5"], "--batch"),
    (["--batch", "100000000"], "memory"),
    (["--mode", "fast"], "mode"),
    (["--model", "nosuchmodel"], "model"),
    (["--activation", "softplus"], "activation"),
    (["--planner", "magic"], "planner"),
    (["--weights", "/nonexistent/w.npz"], "does not exist"),
    (["--hidden", "0"], "--hidden"),
]


@pytest.mark.parametrize("args,needle", BAD, ids=[" ".join(a)[:30] for a, _ in BAD])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, needle) -> None:
    out = tmp_path / "out"
    proc = run_cli("analyze", *args, "--out", str(out), "--repeat", "1", "--warmup", "0")
    assert_one_line_error(proc, needle)
    assert not out.exists() or not any(out.iterdir())


def test_weights_of_the_wrong_shape(tmp_path) -> None:
    np.savez(tmp_path / "w.npz", w0=np.zeros((3, 3), np.float32))
    proc = run_cli("analyze", "--weights", str(tmp_path / "w.npz"), "--out", str(tmp_path / "o"))
    assert_one_line_error(proc, "w0 has shape")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    proc = run_cli("analyze", "--weights", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "o"))
    assert_one_line_error(proc, "bad.npz")
    assert not (tmp_path / "o").exists()


def test_unwritable_output_directory(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli("analyze", "--out", str(blocker / "sub"), "--repeat", "1", "--warmup", "0",
                   "--hidden", "64")
    assert_one_line_error(proc, "output directory")
    assert blocker.read_text() == "x"


def test_show_prints_plan() -> None:
    proc = run_cli("show", "--hidden", "64", "--batch", "2")
    assert proc.returncode == 0, proc.stderr
    assert "@arena+0" in proc.stdout and "fused{add" in proc.stdout


@pytest.mark.parametrize("core", ["Haswell", "SkylakeX"])
def test_blas_core_is_chosen_before_numpy_loads(tmp_path, core) -> None:
    pytest.importorskip("threadpoolctl")
    proc = run_cli("analyze", "--blas-core", core, "--hidden", "64", "--repeat", "1",
                   "--warmup", "0", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    blas = json.loads((tmp_path / "mlp.json").read_text())["meta"]["blas"]
    assert blas["architecture"] == core
