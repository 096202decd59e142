"""`mlxa analyze --plots`: the compiled plan's timeline as a PNG beside the reports, and nothing
at all written on bad input or without matplotlib."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cli_helpers import ROOT, assert_one_line_error, run_cli

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
QUICK = ("--repeat", "2", "--warmup", "0")


def test_plots_writes_a_png_beside_the_reports(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    proc = run_cli("analyze", "--plots", "--hidden", "64", "--batch", "4", *QUICK,
                   "--out", str(out), "--name", "r", "--quiet")
    assert proc.returncode == 0, proc.stderr
    png = out / "r_timeline.png"
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    assert str(png) in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["r.json", "r.txt", "r_timeline.png"]


def test_plots_of_a_zoo_model_in_optimized_mode(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    proc = run_cli("analyze", "--plots", "--model", "small_cnn", "--batch", "2", "--mode",
                   "optimized", *QUICK, "--out", str(tmp_path), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "small_cnn_timeline.png").read_bytes().startswith(PNG_SIGNATURE)


@pytest.mark.parametrize("args, needle", [
    (("--mode", "baseline"), "--plots"),
    (("--planner", "nope"), "unknown planner"),
    (("--batch", "0"), "--batch"),
    (("--model", "nope"), "unknown model"),
])
def test_bad_input_writes_nothing(tmp_path, args: tuple[str, ...], needle: str) -> None:
    out = tmp_path / "out"
    proc = run_cli("analyze", "--plots", *args, *QUICK, "--out", str(out))
    assert_one_line_error(proc, needle)
    assert not out.exists()


def test_without_matplotlib_one_line_and_nothing_written(tmp_path) -> None:
    fake = tmp_path / "fake"
    (fake / "matplotlib").mkdir(parents=True)
    (fake / "matplotlib" / "__init__.py").write_text("raise ImportError('no matplotlib here')\n")
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(fake), str(ROOT / "src")]))
    proc = subprocess.run([sys.executable, "-m", "mlxa", "analyze", "--plots", "--hidden", "64",
                           *QUICK, "--out", str(out)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert_one_line_error(proc, "matplotlib")
    assert not out.exists()


def test_every_planned_buffer_has_a_kind() -> None:
    from mlxa.models.zoo import build
    from mlxa.runtime.compiled import CompiledModel

    compiled = CompiledModel(build("small_cnn", batch=2))
    kinds = compiled.buffer_kinds()
    assert len(kinds) == len(compiled.planned_buffers)
    assert {"conv", "conv scratch"} <= set(kinds)
