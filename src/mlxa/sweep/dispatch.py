"""Sending a sweep's cells to a Dask cluster and keeping every finished one.

The client submits every cell not yet in the store, then takes results as they complete and
writes each to the store at once, one transaction per cell (store.py): a result is durable
before the next is looked at, so a sweep that dies loses at most the cells still running, and a
re-run skips everything written.

A worker that dies while it runs a cell: the scheduler sends the cell to another worker (up to
its `allowed-failures`, 3 by default); past that the cell fails with KilledWorker and the client
submits it again, `retries` times. Either way it is reported: each task announces its start
(worker, pid, host) on an event topic, and the scheduler announces every worker it loses with
the cells it had sent there; a cell that had started on the lost worker (or started more than
once) is written with its attempts and the workers that ran it, and an event `retried` says which
worker died; a cell only queued on it, never started there, is an event `requeued`. A cell that
raises is an event `failed` with its error, left out of `cells`, so the next run tries it again.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlxa.errors import MlxaError
from mlxa.sweep.cell import Row, run_cell
from mlxa.sweep.grid import Cell
from mlxa.sweep.store import Store

TOPIC = "mlxa-sweep"
KEY_PREFIX = "mlxa-sweep-"
DEFAULT_RETRIES = 2


def run_on_worker(cell: Cell) -> Row:
    """The task: announce the start, run the cell, name the worker that ran it."""
    from distributed import get_worker

    worker = get_worker()
    worker.log_event(TOPIC, {"action": "start", "cell_key": cell.key, "worker": worker.address,
                             "pid": os.getpid(), "host": socket.gethostname()})
    row = run_cell(cell)
    row["worker"] = worker.address
    return row


@dataclass
class Watch:
    """What the cluster told the client while the sweep ran (filled from Dask's event thread)."""

    starts: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    lost: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    lost_workers: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    died_at: dict[str, str] = field(default_factory=dict)  # worker -> UTC time of its loss
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_start(self, event: tuple[float, dict[str, Any]]) -> None:
        _, msg = event
        with self.lock:
            self.starts[msg["cell_key"]].append(msg)

    def on_cluster(self, event: tuple[float, dict[str, Any]]) -> None:
        when, msg = event
        if msg.get("action") != "remove-worker" or msg.get("expected"):
            return
        keys = tuple(k[len(KEY_PREFIX):].split("-")[0] for k in msg.get("processing-tasks", ())
                     if isinstance(k, str) and k.startswith(KEY_PREFIX))
        worker = str(msg.get("worker", "?"))
        with self.lock:
            self.lost_workers.append((worker, keys))
            self.died_at[worker] = _dt.datetime.fromtimestamp(when, _dt.UTC).strftime("%H:%M:%S")
            for key in keys:
                self.lost[key].append(worker)


@dataclass
class Outcome:
    sweep_id: str
    grid_cells: int
    skipped: int
    finished: list[Row] = field(default_factory=list)
    failed: list[tuple[Cell, str]] = field(default_factory=list)
    retried: list[tuple[Cell, str]] = field(default_factory=list)
    lost_workers: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    complete: bool = False


Progress = Callable[[int, int, Cell, Row | None, str], None]  # done, total, cell, row, note


def todo(cells: Sequence[Cell], store: Store) -> list[Cell]:
    """The cells not in the store yet, in grid order."""
    done = store.finished_keys()
    return [c for c in cells if c.key not in done]


def skip_all(cells: Sequence[Cell], store: Store, command: str = "") -> Outcome:
    """A sweep whose every cell is in the store: recorded, nothing run, no cluster needed."""
    outcome = Outcome(uuid.uuid4().hex[:12], len(cells), len(cells), complete=True)
    record = _sweep_record(outcome, "none (every cell already in the store)", 0, command)
    _close_record(store, record, outcome)
    return outcome


def run_sweep(cells: Sequence[Cell], store: Store, client: Any, cluster: str, workers: int,
              retries: int = DEFAULT_RETRIES, progress: Progress | None = None,
              command: str = "") -> Outcome:
    """Run the cells the store lacks; write each as it finishes (see the module docstring)."""
    cells_todo = todo(cells, store)
    outcome = Outcome(uuid.uuid4().hex[:12], len(cells), len(cells) - len(cells_todo))
    record = _sweep_record(outcome, cluster, workers, command)
    store.write_sweep({**record, "status": "running"})
    watch = Watch()
    client.subscribe_topic(TOPIC, watch.on_start)
    client.subscribe_topic("all", watch.on_cluster)
    try:
        _gather(cells_todo, store, client, watch, outcome, retries, progress)
        outcome.complete = True
    finally:
        outcome.lost_workers = list(watch.lost_workers)
        _close_record(store, record, outcome)
        for topic in (TOPIC, "all"):
            client.unsubscribe_topic(topic)
    return outcome


def _gather(todo: Sequence[Cell], store: Store, client: Any, watch: Watch, outcome: Outcome,
            retries: int, progress: Progress | None) -> None:
    from distributed import as_completed

    tries: dict[str, int] = defaultdict(int)
    pending = {_submit(client, c, 0): c for c in todo}
    queue = as_completed(list(pending))
    for future in queue:
        cell = pending.pop(future)
        row, error = _result(future)
        future.release()
        if error == "KilledWorker" and tries[cell.key] < retries:
            tries[cell.key] += 1
            again = _submit(client, cell, tries[cell.key])
            pending[again] = cell
            queue.add(again)
            continue
        if row is None:
            _failed(store, outcome, cell, error, watch)
        else:
            _finished(store, outcome, cell, row, watch)
        if progress is not None:
            progress(len(outcome.finished) + len(outcome.failed), len(todo), cell, row, error)


def _submit(client: Any, cell: Cell, attempt: int) -> Any:
    key = f"{KEY_PREFIX}{cell.key}" + (f"-again{attempt}" if attempt else "")
    return client.submit(run_on_worker, cell, key=key, pure=False)


def _result(future: Any) -> tuple[Row | None, str]:
    """The row, or None and the error as one line (`KilledWorker` alone for a lost cell)."""
    from distributed import KilledWorker

    try:
        return future.result(), ""
    except KilledWorker:
        return None, "KilledWorker"
    except MlxaError as e:
        return None, " ".join(str(e).split())[:300]
    except Exception as e:  # a bug in a cell must not stop the others: reported and kept
        return None, f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"


def _finished(store: Store, outcome: Outcome, cell: Cell, row: Row, watch: Watch) -> None:
    with watch.lock:
        starts = list(watch.starts.get(cell.key, ()))
        lost = list(watch.lost.get(cell.key, ()))
        died_at = dict(watch.died_at)
    workers = [s["worker"] for s in starts] or [row.get("worker", "?")]
    row = {**row, "attempts": max(len(starts), 1), "workers": json.dumps(workers),
           "sweep_id": outcome.sweep_id}
    died_running = [w for w in lost if w in workers[:-1]]
    events = [_event(outcome, "requeued", cell, w, f"the worker it was queued on died (at "
                     f"{died_at.get(w, '?')} UTC) before it started there")
              for w in lost if w not in died_running]
    if died_running or len(starts) > 1:
        detail = _retry_detail(died_running, starts, row, died_at)
        events.append(_event(outcome, "retried", cell, (died_running or workers)[0], detail))
        outcome.retried.append((cell, detail))
    store.write_cell(row, tuple(events))
    outcome.finished.append(row)


def _retry_detail(died: list[str], starts: list[dict[str, Any]], row: Row,
                  died_at: dict[str, str]) -> str:
    pids = {s["worker"]: s["pid"] for s in starts}
    dead = ", ".join(f"{w} (pid {pids.get(w, '?')}, at {died_at.get(w, '?')} UTC)"
                     for w in died) or "a worker"
    return (f"{dead} died while the cell ran; started {len(starts)} times, finished on "
            f"{row.get('worker', '?')}")


def _failed(store: Store, outcome: Outcome, cell: Cell, error: str, watch: Watch) -> None:
    with watch.lock:
        lost = list(watch.lost.get(cell.key, ()))
    if error == "KilledWorker":
        error = f"workers died each time it ran ({', '.join(lost) or 'unknown workers'})"
    store.write_event(_event(outcome, "failed", cell, lost[-1] if lost else "", error))
    outcome.failed.append((cell, error))


def _event(outcome: Outcome, kind: str, cell: Cell, worker: str,
           detail: str) -> tuple[str, str, str, str, str, str, str]:
    return (outcome.sweep_id, _now(), kind, cell.key, cell.label, worker, detail)


def _sweep_record(outcome: Outcome, cluster: str, workers: int, command: str) -> dict[str, Any]:
    from mlxa import __version__

    return {"sweep_id": outcome.sweep_id, "started": _now(), "command": command,
            "cluster": cluster, "workers": workers, "grid_cells": outcome.grid_cells,
            "skipped": outcome.skipped, "client_host": socket.gethostname(),
            "mlxa_version": __version__}


def _close_record(store: Store, record: dict[str, Any], outcome: Outcome) -> None:
    for worker, keys in outcome.lost_workers:
        if not keys:
            store.write_event((outcome.sweep_id, _now(), "worker_lost", "", "", worker,
                               "the worker died while it ran no cell of this sweep"))
    status = ("complete" if outcome.complete and not outcome.failed
              else "incomplete" if outcome.complete else "interrupted")
    store.write_sweep({**record, "finished": _now(), "status": status,
                       "finished_cells": len(outcome.finished),
                       "failed_cells": len(outcome.failed),
                       "retried_cells": len(outcome.retried)})


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")
