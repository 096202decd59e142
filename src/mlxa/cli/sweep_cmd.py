"""`mlxa sweep`: a grid of zoo models x batch sizes x precisions x planners x backends, run on a
Dask cluster (local worker processes by default, `--scheduler ADDRESS` for a cluster), each
finished cell written to one DuckDB store at once; `--report` renders the store.

Exit codes: 0 every cell of the grid is in the store and none failed its correctness check;
1 a cell failed to run (reported, retried on the next run) or failed its check; 2 bad input.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlxa.atomic import ensure_writable_dir
from mlxa.errors import UserInputError
from mlxa.sweep import grid as g

if TYPE_CHECKING:
    from mlxa.sweep.dispatch import Outcome, Progress

DEFAULT_BATCHES = "1,2,4"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="a grid of models x batches x precisions x planners x "
                                     "backends on a Dask cluster, into one DuckDB store")
    p.add_argument("--models", help="zoo models, comma-separated (default: every zoo model)")
    p.add_argument("--batch", default=DEFAULT_BATCHES,
                   help=f"batch sizes, comma-separated (default {DEFAULT_BATCHES})")
    p.add_argument("--precision", default="fp32",
                   help="precisions, comma-separated: fp32 (default), int8 (compiled backend "
                        "only: quantized, calibrated on the measured input)")
    p.add_argument("--planner", default="best",
                   help="planners of the compiled backend, comma-separated (default best)")
    p.add_argument("--backend", default=",".join(g.DEFAULT_BACKENDS),
                   help="backends, comma-separated: eager, compiled, onnxruntime (needs "
                        f"mlxa[onnx]); default {','.join(g.DEFAULT_BACKENDS)}")
    p.add_argument("--seed", type=int, default=0, help="seed of the zoo weights (default 0)")
    p.add_argument("--warmup", type=int, default=1, help="warm-up calls per cell (default 1)")
    p.add_argument("--repeat", type=int, default=None,
                   help="timed calls per cell (default: as many as --budget allows, 5 to 200)")
    p.add_argument("--budget", type=float, default=1.0, metavar="SECONDS",
                   help="time for one cell's timed calls (default 1)")
    p.add_argument("--workers", type=int, default=2,
                   help="worker processes of the local cluster (default 2)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on the Dask cluster of this scheduler, e.g. tcp://10.0.0.5:8786, "
                        "instead of a local cluster")
    p.add_argument("--retries", type=int, default=2,
                   help="times the client resubmits a cell whose workers kept dying, after "
                        "the scheduler's own retries (default 2)")
    p.add_argument("--out", default="reports", help="directory of the store and the report "
                                                     "(default reports/)")
    p.add_argument("--store", metavar="FILE.duckdb",
                   help="the sweep store (default <out>/sweep.duckdb)")
    p.add_argument("--report", action="store_true",
                   help="run nothing: render the store into <out>/sweep_table.txt, "
                        "sweep_latency.png, sweep_memory.png, sweep_cells.parquet (and "
                        "sweep.html when the HTML report is installed)")
    p.add_argument("--dry-run", action="store_true",
                   help="list the grid's cells, each to run or already in the store")
    p.add_argument("--quiet", action="store_true", help="no line per finished cell")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mlxa.sweep.cluster import check_installed

    grid = None if args.report else parse_grid(args)
    check_installed(cluster=not (args.report or args.dry_run))
    out = ensure_writable_dir(args.out)
    store_path = Path(args.store) if args.store else out / "sweep.duckdb"
    if args.report:
        return _report(store_path, out)
    assert grid is not None
    if args.dry_run:
        return _dry_run(grid.cells(), store_path)
    return _sweep(args, grid.cells(), store_path)


def parse_grid(args: argparse.Namespace) -> g.Grid:
    """Every option checked before a cluster starts or a file is opened."""
    from mlxa.models.zoo import ZOO

    models = g.parse_list("--models", args.models) if args.models else tuple(ZOO)
    g.check_models(models)
    precisions = g.parse_list("--precision", args.precision)
    g.check_precisions(precisions)
    planners = g.parse_list("--planner", args.planner)
    g.check_planners(planners)
    backends = g.parse_list("--backend", args.backend)
    g.check_backends(backends)
    _check_run_options(args)
    grid = g.Grid(models, g.parse_batches(args.batch), precisions, planners, backends,
                  args.seed, args.warmup, args.repeat, args.budget)
    if not grid.cells():
        raise UserInputError(f"--precision {','.join(precisions)}: int8 is compiled: add "
                             "--backend compiled")
    return grid


def _check_run_options(args: argparse.Namespace) -> None:
    if args.warmup < 0:
        raise UserInputError(f"--warmup must be >= 0, got {args.warmup}")
    if args.repeat is not None and args.repeat <= 0:
        raise UserInputError(f"--repeat must be a positive integer, got {args.repeat}")
    if not 0 < args.budget <= 3600:
        raise UserInputError(f"--budget must be between 0 and 3600 seconds, got {args.budget}")
    if args.retries < 0:
        raise UserInputError(f"--retries must be >= 0, got {args.retries}")
    if args.seed < 0:
        raise UserInputError(f"--seed must be >= 0, got {args.seed}")
    if args.scheduler is not None:
        from mlxa.sweep.cluster import check_address

        check_address(args.scheduler)
    elif not 1 <= args.workers <= 64:
        raise UserInputError(f"--workers must be between 1 and 64, got {args.workers}")


def _report(store_path: Path, out: Path) -> int:
    from mlxa.sweep.report import write_report
    from mlxa.sweep.store import Store

    with Store(store_path, read_only=True) as store:
        paths = write_report(store, out)
    print("Reports: " + ", ".join(str(p) for p in paths))
    return 0


def _dry_run(cells: tuple[g.Cell, ...], store_path: Path) -> int:
    from mlxa.sweep.store import Store

    done: set[str] = set()
    if store_path.is_file():
        with Store(store_path, read_only=True) as store:
            done = store.finished_keys()
    for cell in cells:
        print(f"{cell.key}  {'done' if cell.key in done else 'todo'}  {cell.label}")
    todo = sum(c.key not in done for c in cells)
    print(f"{len(cells)} cells: {len(cells) - todo} in {store_path}, {todo} to run")
    return 0


def _sweep(args: argparse.Namespace, cells: tuple[g.Cell, ...], store_path: Path) -> int:
    from mlxa.sweep.cluster import connect
    from mlxa.sweep.dispatch import run_sweep, skip_all, todo
    from mlxa.sweep.store import Store

    started = time.perf_counter()
    command = shlex.join(["mlxa", *sys.argv[1:]])
    with Store(store_path) as store:
        remaining = len(todo(cells, store))
        if not remaining:  # every cell finished: no cluster to start
            return _summary(skip_all(cells, store, command), store_path, "no cluster", started)
        with connect(args.scheduler, args.workers) as connected, \
                _progress(args.quiet, remaining) as progress:
            outcome = run_sweep(cells, store, connected.client, connected.description,
                                connected.workers, args.retries, progress, command)
        return _summary(outcome, store_path, connected.description, started)


@contextmanager
def _progress(quiet: bool, total: int) -> Iterator[Progress]:
    """A line per finished cell on stdout (none with --quiet) and, on a terminal with rich, a
    bar with the time left (report/progress.py; silent elsewhere)."""
    from mlxa.report.progress import terminal_progress

    with terminal_progress(not quiet) as bar:
        bar("sweep cells", 0, total)

        def update(done: int, of: int, cell: g.Cell, row: dict[str, Any] | None,
                   error: str) -> None:
            if not quiet:
                _print_progress(done, of, cell, row, error)
            bar("sweep cells", done, of)

        yield update


def _print_progress(done: int, total: int, cell: g.Cell, row: dict[str, Any] | None,
                    error: str) -> None:
    from mlxa.units import format_nbytes

    width = len(str(total))
    if row is None:
        print(f"[{done:>{width}}/{total}] {cell.label}: FAILED: {error}", flush=True)
        return
    memory = ("" if row.get("memory_nbytes") is None
              else f", {format_nbytes(row['memory_nbytes'])}")
    correct = row.get("correct")
    check = "" if correct is None else ", PASS" if correct else ", FAIL"
    print(f"[{done:>{width}}/{total}] {cell.label}: {row['latency_median_ms']:.3f} ms"
          f"{memory}{check} ({row.get('worker', '?')})", flush=True)


def _summary(outcome: Outcome, store_path: Path, cluster: str, started: float) -> int:
    run = len(outcome.finished) + len(outcome.failed)
    print(f"Sweep {outcome.sweep_id}: {outcome.grid_cells} cells in the grid, "
          f"{outcome.skipped} already in the store (skipped), {run} run: "
          f"{len(outcome.finished)} finished, {len(outcome.failed)} failed, "
          f"{len(outcome.retried)} retried after a worker died; "
          f"{time.perf_counter() - started:.1f} s ({cluster})")
    for cell, detail in outcome.retried:
        print(f"  retried: {cell.label}: {detail}")
    for cell, error in outcome.failed:
        print(f"  failed: {cell.label}: {error}")
    for worker, keys in outcome.lost_workers:
        print(f"  worker lost: {worker} ({len(keys)} cell(s) of this sweep sent to it)")
    print(f"Store: {store_path}")
    wrong = [r for r in outcome.finished if r.get("correct") is False]
    for r in wrong:
        print(f"  correctness FAIL: {r['model']} b{r['batch']} {r['backend']}")
    return 1 if outcome.failed or wrong else 0
