"""Where reports go and how: inside --out only, all files of a run or none, the umask's mode, and
an interrupt or a terminate leaves nothing partial."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from cli_helpers import ROOT, assert_one_line_error, run_cli

from mlxa.atomic import check_name, safe_name, write_files
from mlxa.cli import main as cli
from mlxa.errors import UserInputError

SMALL = ("--hidden", "32", "--batch", "2", "--repeat", "2", "--warmup", "0")


@pytest.mark.parametrize("name", ["../x", "../../etc/x", "/tmp/abs", "a/b", "..", ".hidden",
                                  "x\ny", "x\rSpeedup: 1000x", "x\x1b[31m", "", "a" * 300,
                                  "a\\b"])
def test_names_that_would_leave_out_or_inject_are_refused(tmp_path, capsys, name) -> None:
    out = tmp_path / "out"
    assert cli.main(["analyze", *SMALL, "--out", str(out), "--name", name]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--name" in err and "\x1b" not in err.replace("\\x1b", "")
    assert not list(tmp_path.iterdir())  # checked before --out is created


def test_plain_names_pass_and_model_names_are_made_safe() -> None:
    assert check_name("resnet50-b1_run=2") == "resnet50-b1_run=2"
    for evil in ("../x", "a/b\nc", "\x1b[31m", ".."):
        made = safe_name(evil)
        assert check_name(made) == made and "/" not in made and made.isprintable()
    with pytest.raises(UserInputError):
        check_name("../x")


def test_an_onnx_file_named_with_a_newline_cannot_inject_a_line(tmp_path) -> None:
    onnx = pytest.importorskip("onnx")
    from mlxa.frontends.onnx_export import to_onnx
    from mlxa.models.zoo import build

    model = to_onnx(build("small_cnn", batch=1))
    path = tmp_path / "evil\nSpeedup: 1000x.onnx"
    onnx.save(model, str(path))
    out = tmp_path / "out"
    proc = run_cli("analyze", str(path), "--repeat", "2", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    written = sorted(p.name for p in out.iterdir())
    assert all("\n" not in n for n in written) and len(written) == 2
    text = next(p for p in out.iterdir() if p.suffix == ".txt").read_text()
    assert "\nSpeedup: 1000x" not in text


def test_all_files_or_none_and_the_old_ones_come_back(tmp_path) -> None:
    good, blocked = tmp_path / "r.json", tmp_path / "r.txt"
    good.write_text("old json")
    blocked.mkdir()  # a directory where the second file must go: its rename fails
    with pytest.raises(UserInputError):
        write_files({good: b"new json", blocked: b"new text"})
    assert good.read_text() == "old json" and blocked.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.txt"]


def test_a_new_run_that_fails_leaves_no_file(tmp_path) -> None:
    (tmp_path / "r.txt").mkdir()
    with pytest.raises(UserInputError):
        write_files({tmp_path / "r.json": b"{}", tmp_path / "r.txt": b"x"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.txt"]


def test_files_get_the_umask_mode(tmp_path) -> None:
    old = os.umask(0o022)
    try:
        write_files({tmp_path / "a.txt": b"x"})
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644


def test_an_unwritable_report_is_one_line_and_nothing_is_left(tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "r.txt").mkdir()
    proc = run_cli("analyze", *SMALL, "--out", str(out), "--name", "r")
    assert_one_line_error(proc, "cannot write")
    assert sorted(p.name for p in out.iterdir()) == ["r.txt"]


@pytest.mark.parametrize("sig,code,word", [(signal.SIGINT, 130, "interrupted"),
                                           (signal.SIGTERM, 143, "terminated")])
def test_a_signal_mid_run_exits_with_its_code_and_leaves_nothing(tmp_path, sig, code,
                                                                 word) -> None:
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen([sys.executable, "-m", "mlxa", "analyze", "--model", "resnet18",
                             "--budget", "60", "--out", str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not out.exists() and time.monotonic() < deadline:  # the run has started measuring
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert err.strip().splitlines() == [f"mlxa: error: {word}"]
    assert not out.exists() or not list(out.iterdir())


@pytest.mark.parametrize("raised,code,word", [(KeyboardInterrupt, 130, "interrupted"),
                                              ("terminated", 143, "terminated")])
def test_a_signal_a_library_wraps_still_reads_as_the_signal(monkeypatch, capsys, raised, code,
                                                            word) -> None:
    """A signal that lands inside an import (torch's, at bind time) reaches us as the cause of
    a RuntimeError: it is still the signal's exit, not an internal error."""
    import argparse

    from mlxa.cli import main as cli_main
    from mlxa.errors import Terminated

    signal_error = Terminated if raised == "terminated" else raised

    def run(args: argparse.Namespace) -> int:
        try:
            raise signal_error()
        except BaseException as e:
            raise RuntimeError("Error calling __set_name__ on 'Field' instance") from e

    class Parser:
        def parse_args(self, argv: list[str]) -> argparse.Namespace:
            return argparse.Namespace(run=run)

    monkeypatch.setattr(cli_main, "build_parser", lambda: Parser())
    assert cli_main.main(["analyze"]) == code
    assert capsys.readouterr().err.strip().splitlines() == [f"mlxa: error: {word}"]
