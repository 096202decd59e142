"""`mlxa plan`: golden console output, JSON data, output files, and one-line errors on bad input
(each checked to write nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, run_cli

# Greedy is already optimal here (arena = lower bound).
EASY = "id,lower,upper,size\n0,0,3,4\n1,3,9,4\n2,0,9,4\n3,9,21,4\n4,0,21,4\n"
# The greedy planners need 544 bytes or more; the search finds 528 (the lower bound) and proves it.
ROWS = [(3, 4, 128), (0, 3, 96), (5, 6, 16), (7, 11, 48), (4, 8, 64), (1, 7, 96), (2, 3, 64),
        (0, 5, 64), (1, 6, 112), (5, 11, 80), (2, 6, 96)]
SEARCH = "id,lower,upper,size\n" + "".join(f"{i},{s},{e},{z}\n" for i, (s, e, z) in
                                           enumerate(ROWS))


def _instance(tmp_path: Path, text: str, name: str = "inst.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_golden_auto_heuristic_is_optimal(tmp_path: Path, golden) -> None:
    proc = run_cli("plan", str(_instance(tmp_path, EASY, "easy.csv")), "--no-timing")
    assert proc.returncode == 0, proc.stderr
    golden("plan_easy.txt", proc.stdout)


def test_golden_auto_search_beats_greedy(tmp_path: Path, golden) -> None:
    path = _instance(tmp_path, SEARCH, "search.csv")
    proc = run_cli("plan", str(path), "--no-timing", "--no-cpsat")
    assert proc.returncode == 0, proc.stderr
    golden("plan_search.txt", proc.stdout)
    proc = run_cli("plan", str(path), "--no-timing", "--no-cpsat", "--json")
    golden("plan_search.json", proc.stdout)


def test_golden_named_strategy_with_alignment(tmp_path: Path, golden) -> None:
    path = _instance(tmp_path, SEARCH, "search.csv")
    proc = run_cli("plan", str(path), "--no-timing", "--strategy", "first_fit",
                   "--alignment", "64")
    assert proc.returncode == 0, proc.stderr
    golden("plan_first_fit_aligned.txt", proc.stdout)


def test_json_outputs_and_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = _instance(tmp_path, SEARCH)
    out, png = tmp_path / "offsets.csv", tmp_path / "timeline.png"
    proc = run_cli("plan", str(path), "--json", "--out", str(out), "--plot", str(png),
                   "--time-limit", "5")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["arena_nbytes"] == data["lower_bound_nbytes"] == 528
    assert data["proven_optimal"] is True and data["time_s"] >= 0
    assert data["candidates_arena_nbytes"]["greedy_by_lifetime"] == 544
    rows = out.read_text().splitlines()
    assert rows[0] == "id,offset" and len(rows) == len(ROWS) + 1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


BAD = [
    ("missing.csv", None, [], "no such file"),
    ("cols.csv", "id,lower,size\n0,0,4\n", [], "missing column"),
    ("nonint.csv", "id,lower,upper,size\n0,0,3,x\n", [], "not an integer"),
    ("neg.csv", "id,lower,upper,size\n0,0,3,-1\n", [], "negative size"),
    ("order.csv", "id,lower,upper,size\n0,5,3,1\n", [], "not below upper"),
    ("dup.csv", "id,lower,upper,size\n0,0,3,1\n0,1,3,1\n", [], "duplicate id"),
    ("empty.csv", "id,lower,upper,size\n", [], "no buffers"),
    ("ok.csv", EASY, ["--time-limit", "0"], "--time-limit"),
    ("ok.csv", EASY, ["--alignment", "0"], "--alignment"),
    ("ok.csv", EASY, ["--strategy", "magic"], "invalid choice"),
    ("ok.csv", EASY, ["--out", "nodir/offsets.csv"], "does not exist"),
    ("ok.csv", EASY, ["--out", "ok.csv"], "overwrite the instance"),
    ("ok.csv", EASY, ["--out", "same.png", "--plot", "same.png"], "same file"),
]


@pytest.mark.parametrize("name, text, extra, needle", BAD, ids=[b[0] + str(i) for i, b in
                                                                enumerate(BAD)])
def test_bad_input_one_line_and_nothing_written(tmp_path: Path, name: str, text: str | None,
                                                extra: list[str], needle: str) -> None:
    if text is not None:
        _instance(tmp_path, text, name)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    proc = run_cli("plan", name, "--out", "offsets.csv", "--plot", "plot.png", *extra,
                   cwd=tmp_path, timeout=60)
    assert_one_line_error(proc, needle)
    assert proc.stdout == ""
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_timeline_png_with_kinds(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from mlxa.planners.contract import Buffer
    from mlxa.planners.registry import get_planner
    from mlxa.report.timeline_plot import render_timeline_png

    buffers = [Buffer(i, s, e, z) for i, (s, e, z) in enumerate(ROWS)]
    plan = get_planner("greedy_by_size")(buffers, 1)
    path = tmp_path / "t.png"
    render_timeline_png(buffers, plan, path, kinds=["matmul", "add"] * 5 + ["relu"], title="t")
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in tmp_path.iterdir()] == ["t.png"]
    with pytest.raises(ValueError, match="kinds"):
        render_timeline_png(buffers, plan, tmp_path / "u.png", kinds=["add"])
    assert not (tmp_path / "u.png").exists()
