"""`mlxa analyze --html` writes the page with the run's other files, all or none; `mlxa report`
renders saved runs (one, or two side by side) and refuses bad input in one line, writing
nothing."""

from __future__ import annotations

import json

import pytest
from cli_helpers import assert_one_line_error, run_cli

QUICK = ("--hidden", "64", "--batch", "4", "--repeat", "2", "--warmup", "0")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Two saved runs of the small MLP (one with per-op times), each with its HTML page."""
    out = tmp_path_factory.mktemp("runs")
    for name, extra in (("a", ("--per-op",)), ("b", ())):
        proc = run_cli("analyze", *QUICK, *extra, "--html", "--out", str(out), "--name", name,
                       "--quiet")
        assert proc.returncode == 0, proc.stderr
    return out


def test_analyze_html_lands_with_the_other_files(saved) -> None:
    assert sorted(p.name for p in saved.iterdir() if p.name.startswith("a.")) == [
        "a.html", "a.json", "a.txt"]
    page = (saved / "a.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and '<section id="roofline">' in page


def test_report_renders_a_saved_run_as_analyze_did(saved, tmp_path) -> None:
    out = tmp_path / "again.html"
    proc = run_cli("report", str(saved / "a.json"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == (saved / "a.html").read_text()


def test_report_of_two_runs_defaults_beside_the_first(saved) -> None:
    proc = run_cli("report", str(saved / "a.json"), str(saved / "b.json"))
    assert proc.returncode == 0, proc.stderr
    page = (saved / "a_vs_b.html").read_text()
    assert "b / a" in page and '<section id="diff">' in page


def test_report_with_ceilings(saved, tmp_path) -> None:
    roofs = tmp_path / "roofs.json"
    roofs.write_text(json.dumps({"peak_flops_per_s": 5e10, "how": "measured elsewhere",
                                 "bandwidth_bytes_per_s": {"DRAM": 1e10}}))
    out = tmp_path / "r.html"
    proc = run_cli("report", str(saved / "a.json"), "--ceilings", str(roofs), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "DRAM 10.0 GB/s" in out.read_text()


@pytest.mark.parametrize("content, needle", [
    (None, "no such file"),
    ("not json", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"schema": "mlxa.run/1"}', "schema"),
    ('{"schema": "mlxa.run/2"}', "missing field"),
])
def test_bad_runs_are_one_line_and_write_nothing(tmp_path, content, needle) -> None:
    path = tmp_path / "run.json"
    if content is not None:
        path.write_text(content)
    proc = run_cli("report", str(path))
    assert_one_line_error(proc, needle)
    assert not (tmp_path / "run.html").exists()


def test_three_runs_and_a_directory_are_refused(saved, tmp_path) -> None:
    run = str(saved / "a.json")
    assert_one_line_error(run_cli("report", run, run, run), "one run or two")
    assert_one_line_error(run_cli("report", run, "--out", str(tmp_path)), "directory")


def test_report_reads_the_ceilings_mlxa_machine_measured(saved, tmp_path) -> None:
    ceilings_fake = pytest.importorskip("ceilings_fake")
    measured = ceilings_fake.fake_ceilings()
    machine = tmp_path / "machine.json"
    machine.write_text(json.dumps(measured.to_json()))
    out = tmp_path / "r.html"
    proc = run_cli("report", str(saved / "a.json"), "--ceilings", str(machine), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    assert "mlxa machine on" in page and "peak 100.0 GFLOP/s" in page
    assert page.count('class="roof"') == 1 + len(measured.plateaus)
