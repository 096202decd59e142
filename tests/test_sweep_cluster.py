"""`mlxa sweep` on a real local Dask cluster of two worker processes: a worker is killed with
SIGKILL while it runs a cell, the sweep completes, the cell is retried and reported, nothing is
lost, and a re-run skips every finished cell; `--report` renders the store; the default local
cluster runs too. Skipped without dask[distributed] and duckdb (the `sweep` extra).

The test owns the cluster and hands its scheduler to the CLI (`--scheduler`), so it can watch the
cells start on a client of its own and kill the worker running one.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import threading

import pytest
from cli_helpers import run_cli

pytest.importorskip("distributed")
pytest.importorskip("duckdb")

from distributed import Client, LocalCluster

from mlxa.sweep.dispatch import TOPIC
from mlxa.sweep.store import Store

GRID = ("--models", "small_cnn,mlp,digits_cnn", "--batch", "1,2", "--budget", "0.2",
        "--warmup", "0")
GRID_CELLS = 3 * 2 * 2  # models x batches x (eager, compiled/best)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Killer:
    """Kills the worker running the first compiled cell to start, once, as soon as it starts."""

    def __init__(self, compiled_keys: set[str]) -> None:
        self.compiled_keys = compiled_keys
        self.killed: dict[str, object] = {}
        self.done = threading.Event()

    def __call__(self, event: tuple[float, dict]) -> None:
        _, msg = event
        if self.killed or msg.get("action") != "start" or msg["cell_key"] not in \
                self.compiled_keys:
            return
        self.killed = dict(msg)
        os.kill(int(msg["pid"]), signal.SIGKILL)
        self.done.set()


def _grid_keys(tmp_path, grid: tuple[str, ...] = GRID) -> dict[str, str]:
    """cell key -> label, from the CLI's own --dry-run."""
    proc = run_cli("sweep", *grid, "--out", str(tmp_path / "dry"), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()[:-1]
    return {line.split()[0]: line.split(None, 2)[2] for line in lines}


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes on 127.0.0.1 and a client of the test's own to watch them."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=50) as local, \
            Client(local) as watcher:
        yield local, watcher


def _sweep_killing(cluster, killer: Killer, *args: str) -> subprocess.CompletedProcess:
    local, watcher = cluster
    watcher.subscribe_topic(TOPIC, killer)
    try:
        return run_cli("sweep", *args, "--scheduler", local.scheduler_address, timeout=120)
    finally:
        watcher.unsubscribe_topic(TOPIC)


def test_a_killed_worker_is_retried_and_reported_and_nothing_is_lost(tmp_path, cluster) -> None:
    keys = _grid_keys(tmp_path)
    assert len(keys) == GRID_CELLS
    killer = Killer({k for k, label in keys.items() if "compiled" in label})
    out = tmp_path / "out"
    proc = _sweep_killing(cluster, killer, *GRID, "--out", str(out))
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert killer.done.is_set(), "no compiled cell started: nothing was killed"
    killed_key, killed_worker = killer.killed["cell_key"], killer.killed["worker"]
    summary = [line for line in proc.stdout.splitlines() if line.startswith("Sweep ")][0]
    assert f"{GRID_CELLS} cells in the grid, 0 already in the store (skipped)" in summary
    assert "1 retried after a worker died" in summary, proc.stdout
    assert f"retried: {keys[killed_key]}: {killed_worker}" in proc.stdout

    with Store(out / "sweep.duckdb", read_only=True) as store:
        rows = {r["cell_key"]: r for r in store.cells()}
        events = store.events()
        sweeps = store.sweeps()
    assert set(rows) == set(keys)  # every cell, once: nothing lost
    killed = rows[killed_key]
    assert killed["attempts"] >= 2
    assert json.loads(killed["workers"])[0] == killed_worker
    assert killed["worker"] != killed_worker  # finished elsewhere (the nanny's new worker)
    assert all(r["attempts"] == 1 for k, r in rows.items() if k != killed_key)
    retried = [e for e in events if e["kind"] == "retried"]
    assert [(e["cell_key"], e["worker"]) for e in retried] == [(killed_key, killed_worker)]
    assert [e for e in events if e["kind"] == "failed"] == []
    assert [(s["status"], s["finished_cells"], s["retried_cells"]) for s in sweeps] == \
        [("complete", GRID_CELLS, 1)]
    assert all(r["correct"] for r in rows.values() if r["backend"] == "compiled")

    again = run_cli("sweep", *GRID, "--out", str(out))  # no cluster needed: all finished
    assert again.returncode == 0, again.stderr
    assert (f"{GRID_CELLS} cells in the grid, {GRID_CELLS} already in the store (skipped), "
            "0 run") in again.stdout
    with Store(out / "sweep.duckdb", read_only=True) as store:
        assert len(store.cells()) == GRID_CELLS
        assert store.sweeps()[-1]["skipped"] == GRID_CELLS

    if importlib.util.find_spec("matplotlib") is not None:  # the plots' own tests skip
        report = run_cli("sweep", "--report", "--out", str(out))
        assert report.returncode == 0, report.stderr
        for name in ("sweep_latency.png", "sweep_memory.png"):
            assert (out / name).read_bytes().startswith(PNG_SIGNATURE)
        table = (out / "sweep_table.txt").read_text()
        assert table.count(" fp32 ") >= GRID_CELLS
        assert "retried" in table and keys[killed_key] in table
        assert (out / "sweep_cells.parquet").read_bytes()[:4] == b"PAR1"


def test_a_cell_whose_workers_keep_dying_is_resubmitted_by_the_client(tmp_path,
                                                                     cluster) -> None:
    """The scheduler gives up at once (allowed-failures 0: KilledWorker reaches the client),
    and the client submits the cell again (--retries); reported the same way."""
    local, _ = cluster
    grid = ("--models", "small_cnn", "--batch", "1", "--backend", "compiled", "--budget", "0.3")
    keys = _grid_keys(tmp_path, grid)
    killer = Killer(set(keys))
    allowed = local.scheduler.allowed_failures
    local.scheduler.allowed_failures = 0
    try:
        proc = _sweep_killing(cluster, killer, *grid, "--out", str(tmp_path / "out"))
    finally:
        local.scheduler.allowed_failures = allowed
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "1 finished, 0 failed, 1 retried after a worker died" in proc.stdout
    with Store(tmp_path / "out" / "sweep.duckdb", read_only=True) as store:
        (row,) = store.cells()
        assert [e["kind"] for e in store.events()] == ["retried"]
    assert row["attempts"] == 2 and json.loads(row["workers"])[0] == killer.killed["worker"]

    killer = Killer(set(keys))  # and with no retry left: failed, reported, not stored
    local.scheduler.allowed_failures = 0
    try:
        proc = _sweep_killing(cluster, killer, *grid, "--retries", "0",
                              "--out", str(tmp_path / "out2"))
    finally:
        local.scheduler.allowed_failures = allowed
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "0 finished, 1 failed" in proc.stdout and "failed: small_cnn b1" in proc.stdout
    with Store(tmp_path / "out2" / "sweep.duckdb", read_only=True) as store:
        assert store.cells() == []
        assert [e["kind"] for e in store.events()] == ["failed"]


def test_the_default_local_cluster_runs_a_cell(tmp_path) -> None:
    proc = run_cli("sweep", "--models", "small_cnn", "--batch", "1", "--backend", "eager",
                   "--budget", "0.1", "--out", str(tmp_path), timeout=120)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "local: 2 worker processes on 127.0.0.1" in proc.stdout
    with Store(tmp_path / "sweep.duckdb", read_only=True) as store:
        (row,) = store.cells()
    assert (row["model"], row["batch"], row["backend"], row["planner"]) == \
        ("small_cnn", 1, "eager", "-")
    assert row["worker"].startswith("tcp://127.0.0.1:")
    assert row["mlxa_version"] and row["cpu_count"] >= 1 and row["date"]
    assert json.loads(row["run_json"])["config"]["mode"] == "baseline"
