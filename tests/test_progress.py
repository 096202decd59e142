"""Progress: a plain callback, silent by default, bars on a terminal only (never in a pipe, never
with --quiet), none without rich; analyze tells it of the compile, the timed turns and the
per-node passes, each stage ending at its total."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from cli_helpers import run_cli

from mlxa.models.mlp import MLPConfig, mlp
from mlxa.report.progress import no_progress, terminal_progress
from mlxa.result import RunConfig
from mlxa.session import ModelInfo, analyze


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_silent_when_disabled_or_not_a_terminal() -> None:
    with terminal_progress(enabled=False, stream=FakeTerminal()) as progress:
        assert progress is no_progress
    with terminal_progress(enabled=True, stream=io.StringIO()) as progress:
        assert progress is no_progress


def test_silent_without_rich(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "rich.progress", None)  # import fails as if not installed
    with terminal_progress(stream=FakeTerminal()) as progress:
        assert progress is no_progress


def test_bars_with_an_estimate_on_a_terminal() -> None:
    pytest.importorskip("rich")
    term = FakeTerminal()
    with terminal_progress(stream=term) as progress:
        assert progress is not no_progress
        for done in range(11):
            progress("timed calls", done, 10)
    assert "timed calls" in term.getvalue() and "left" in term.getvalue()


def test_analyze_reports_each_stage_to_its_end() -> None:
    heard: list[tuple[str, float, float | None]] = []
    config = MLPConfig(batch=2, in_features=8, hidden=16, out_features=4)
    analyze(mlp(config), (np.ones((2, 8), np.float32),),
            RunConfig(warmup=0, repeat=3, per_op=True), ModelInfo("mlp", "small"),
            progress=lambda stage, done, total: heard.append((stage, done, total)))
    stages = list(dict.fromkeys(s for s, _, _ in heard))
    assert stages == ["compile", "timed calls", "per-op time, baseline", "per-op time, optimized"]
    for stage in stages:
        updates = [(d, t) for s, d, t in heard if s == stage]
        assert updates[-1][0] == updates[-1][1]  # ends at its total
        assert [d for d, _ in updates] == sorted(d for d, _ in updates)
    assert [d for s, d, _ in heard if s == "timed calls"] == [1, 2, 3]


def test_a_pipe_gets_no_bars(tmp_path) -> None:
    proc = run_cli("analyze", "--hidden", "32", "--batch", "2", "--repeat", "2", "--warmup", "0",
                   "--out", str(tmp_path), "--name", "r")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def _stderr_on_a_terminal(*args: str) -> tuple[int, str]:
    """Run the CLI with stderr on a pseudo-terminal; its exit code and what it wrote there."""
    import os
    import pty
    import subprocess

    from cli_helpers import ROOT

    master, slave = pty.openpty()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), COLUMNS="100")
    proc = subprocess.Popen([sys.executable, "-m", "mlxa", *args], stdout=subprocess.DEVNULL,
                            stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return proc.wait(timeout=300), b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("quiet", [False, True])
def test_a_terminal_gets_bars_unless_quiet(tmp_path, quiet) -> None:
    pytest.importorskip("rich")
    code, err = _stderr_on_a_terminal(
        "analyze", "--hidden", "32", "--batch", "2", "--repeat", "50", "--warmup", "0",
        "--out", str(tmp_path), *(["--quiet"] if quiet else []))
    assert code == 0, err
    assert ("timed calls" in err) is not quiet, err
