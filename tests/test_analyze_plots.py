"""`mlxa analyze --plots`: the compiled plan's timeline as a PNG beside the reports, and nothing
at all written on bad input or without matplotlib."""

from __future__ import annotations

import importlib.util
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


# errors found after the matplotlib check: without matplotlib, that check speaks first
after_matplotlib = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                      reason="matplotlib is not installed")


@pytest.mark.parametrize("args, needle", [
    (("--mode", "baseline"), "--plots"),
    (("--planner", "nope"), "unknown planner"),
    pytest.param(("--batch", "0"), "--batch", marks=after_matplotlib),
    pytest.param(("--model", "nope"), "unknown model", marks=after_matplotlib),
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
    from mlxa.runtime.compiled import compile_model

    compiled = compile_model(build("small_cnn", batch=2))
    kinds = compiled.program.buffer_kinds()
    assert len(kinds) == len(compiled.program.planned_buffers)
    assert {"conv", "conv scratch"} <= set(kinds)


@pytest.mark.parametrize("end", [1, 3, 7, 5000])
def test_step_ticks_are_integers(monkeypatch, end: int) -> None:
    plt = pytest.importorskip("matplotlib.pyplot")
    from mlxa.planners.contract import Buffer, Plan
    from mlxa.report.timeline_plot import timeline_png

    ticks = []
    close = plt.close

    def record(fig):  # the figure as drawn, just before the renderer closes it
        ticks.extend(fig.axes[0].get_xticks())
        close(fig)

    monkeypatch.setattr(plt, "close", record)
    png = timeline_png([Buffer(0, 0, end, 4096)], Plan((0,), 4096, "first_fit"))
    assert png.startswith(PNG_SIGNATURE)
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
