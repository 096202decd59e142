"""`mlxa sweep` without a cluster: the grid and its cell keys, refusals of bad input in one line,
the DuckDB store (a cell is on disk when write_cell returns, even if the process is killed right
after), and the report's renderers. The cluster itself: test_sweep_cluster.py."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from cli_helpers import ROOT, assert_one_line_error, run_cli

from mlxa.sweep.grid import NOT_APPLICABLE, Cell, Grid

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_cells_collapse_the_planner_where_it_does_not_apply() -> None:
    grid = Grid(("mlp", "small_cnn"), (1, 2), planners=("best", "first_fit"),
                backends=("eager", "compiled"))
    cells = grid.cells()
    assert len(cells) == 2 * 2 * (1 + 2)  # eager once, compiled once per planner
    assert {c.planner for c in cells if c.backend == "eager"} == {NOT_APPLICABLE}
    assert len({c.key for c in cells}) == len(cells)
    int8 = Grid(("mlp",), (1,), precisions=("fp32", "int8"),
                backends=("eager", "compiled")).cells()
    assert [(c.precision, c.backend) for c in int8] == [("fp32", "eager"), ("fp32", "compiled"),
                                                        ("int8", "compiled")]


def test_a_cell_key_is_its_parameters() -> None:
    cell = Cell("resnet18", 4, "fp32", "compiled", "best", budget_s=0.5)
    assert cell.key == Cell("resnet18", 4, "fp32", "compiled", "best", budget_s=0.5).key
    changed = [Cell("resnet18", 2, "fp32", "compiled", "best", budget_s=0.5),
               Cell("resnet18", 4, "fp32", "compiled", "first_fit", budget_s=0.5),
               Cell("resnet18", 4, "fp32", "compiled", "best", budget_s=1.0),
               Cell("resnet18", 4, "fp32", "compiled", "best", seed=1, budget_s=0.5)]
    assert cell.key not in {c.key for c in changed}
    assert cell.label == "resnet18 b4 fp32 compiled/best"


@pytest.mark.parametrize(("args", "needle"), [
    (("--precision", "fp16"), "unknown precision 'fp16'; available: fp32, int8"),
    (("--precision", "int8", "--backend", "eager"), "int8 is compiled: add --backend compiled"),
    (("--backend", "tvm"), "unknown backend 'tvm'"),
    (("--models", "vgg"), "unknown model 'vgg'"),
    (("--planner", "magic"), "unknown planner 'magic'"),
    (("--batch", "0"), "--batch: 0 is not between 1"),
    (("--batch", "1,,2"), "expected a comma-separated list"),
    (("--budget", "0"), "--budget must be between"),
    (("--workers", "0"), "--workers must be between 1 and 64"),
    (("--scheduler", "nowhere"), "expected an address like tcp://HOST:8786"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, needle) -> None:
    proc = run_cli("sweep", *args, "--out", str(tmp_path / "out"))
    assert_one_line_error(proc, needle)
    assert not (tmp_path / "out").exists()


def test_report_of_a_missing_or_foreign_store_is_one_line(tmp_path) -> None:
    pytest.importorskip("duckdb")
    assert_one_line_error(run_cli("sweep", "--report", "--out", str(tmp_path)),
                          "no sweep store")
    (tmp_path / "text.duckdb").write_text("not a database\n")
    assert_one_line_error(run_cli("sweep", "--report", "--out", str(tmp_path), "--store",
                                  str(tmp_path / "text.duckdb")), "cannot open sweep store")


def _row(cell: Cell, **figures: object) -> dict[str, object]:
    return {"cell_key": cell.key, "model": cell.model, "batch": cell.batch,
            "precision": cell.precision, "backend": cell.backend, "planner": cell.planner,
            "latency_median_ms": 2.0 * cell.batch, "latency_p10_ms": 1.5 * cell.batch,
            "latency_p90_ms": 2.5 * cell.batch, "timed_calls": 7, "attempts": 1,
            "memory_nbytes": 1000 * cell.batch, "hostname": "h", "cpu": "c", "cpu_count": 2,
            "mlxa_version": "0", **figures}


def test_a_written_cell_survives_a_kill_right_after(tmp_path) -> None:
    pytest.importorskip("duckdb")
    path = tmp_path / "s.duckdb"
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT / 'src')!r}); sys.path.insert(0, {str(ROOT / 'tests')!r})
        from test_sweep import _row
        from mlxa.sweep.grid import Cell
        from mlxa.sweep.store import Store
        store = Store({str(path)!r})
        store.write_cell(_row(Cell("mlp", 1, "fp32", "eager", "-")))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    from mlxa.sweep.store import Store

    with Store(path, read_only=True) as store:
        assert store.finished_keys() == {Cell("mlp", 1, "fp32", "eager", "-").key}


def test_the_report_renders_the_store(tmp_path) -> None:
    pytest.importorskip("duckdb")
    pytest.importorskip("matplotlib")
    from mlxa.sweep.html import html_available
    from mlxa.sweep.report import report_files
    from mlxa.sweep.store import Store

    with Store(tmp_path / "s.duckdb") as store:
        for model in ("mlp", "small_cnn"):
            for batch in (1, 2, 4):
                store.write_cell(_row(Cell(model, batch, "fp32", "eager", NOT_APPLICABLE)))
                store.write_cell(_row(Cell(model, batch, "fp32", "compiled", "best"),
                                      speedup_ratio=1.5, speedup_low_ratio=1.2,
                                      speedup_high_ratio=1.8, correct=True, arena_nbytes=64))
            store.write_cell(_row(Cell(model, 2, "int8", "compiled", "best"),
                                  latency_median_ms=1.0, latency_p10_ms=0.9,
                                  latency_p90_ms=1.1, error_ratio=0.01, arena_nbytes=16))
        store.write_event(("s1", "2026-01-01", "retried", "k", "mlp b1 <fp32>", "tcp://w",
                           "w died"))
        files = report_files(store, tmp_path)
    names = {p.name for p in files}
    assert {"sweep_table.txt", "sweep_latency.png", "sweep_memory.png", "sweep_int8_gain.png",
            "sweep_cells.parquet"} <= names
    for png in ("sweep_latency.png", "sweep_memory.png", "sweep_int8_gain.png"):
        assert files[tmp_path / png].startswith(PNG_SIGNATURE)
    table = files[tmp_path / "sweep_table.txt"].decode()
    assert table.count("compiled/best fp32") == 6 and "1.50x [1.20, 1.80]" in table
    assert "mlp b2 best: 4.00x (int8 error 1.0e-02" in table  # fp32 4 ms / int8 1 ms
    assert files[tmp_path / "sweep_cells.parquet"][:4] == b"PAR1"
    if html_available():
        page = files[tmp_path / "sweep.html"].decode()
        assert page.count("data:image/png;base64,") == 3
        assert "mlp b1 &lt;fp32&gt;" in page and "<fp32>" not in page
        assert "http://" not in page and "https://" not in page


@pytest.mark.parametrize(("precision", "backend", "planner"), [
    ("fp32", "eager", NOT_APPLICABLE), ("fp32", "compiled", "best"),
    ("int8", "compiled", "greedy_by_size"), ("fp32", "onnxruntime", NOT_APPLICABLE)])
def test_a_cell_runs_in_process_into_a_row_of_the_store(precision, backend, planner) -> None:
    if backend == "onnxruntime":
        pytest.importorskip("onnxruntime")
    from mlxa.sweep.cell import run_cell
    from mlxa.sweep.store import COLUMN_NAMES

    cell = Cell("digits_cnn", 2, precision, backend, planner, warmup=0, repeat=3)
    row = run_cell(cell)
    assert set(row) <= set(COLUMN_NAMES)
    assert (row["cell_key"], row["timed_calls"]) == (cell.key, 3)
    assert 0 < row["latency_p10_ms"] <= row["latency_median_ms"] <= row["latency_p90_ms"]
    assert row["date"] and row["mlxa_version"] and row["cpu_count"] >= 1
    if backend == "compiled":
        assert row["arena_nbytes"] > 0 and row["speedup_ratio"] > 0
        assert row["correct"] is True  # int8 by the quantized rule, fp32 by the float rule
        assert row["error_ratio"] < (1e-5 if precision == "fp32" else 0.1)
    else:
        assert row.get("arena_nbytes") is None
    assert (row.get("memory_nbytes") is None) == (backend == "onnxruntime")
