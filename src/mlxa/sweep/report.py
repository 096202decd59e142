"""Renderers of a sweep store: the table as text, latency and memory against batch per model as
PNGs, the cells as Parquet, and HTML when mlxa.report.html offers `render_sweep`.

Each renderer takes the rows the store holds (plain dicts, one per finished cell), so a store
renders again at any time, on any machine; `write_report` writes every file or none.
"""

from __future__ import annotations

import importlib
import io
import math
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlxa.atomic import write_files
from mlxa.errors import UserInputError
from mlxa.sweep.grid import NOT_APPLICABLE
from mlxa.sweep.store import Store
from mlxa.units import format_nbytes

Rows = Sequence[dict[str, Any]]

HOW = (
    "latency: median (p10-p90) ms of one inference over the timed calls, after the warm-up; "
    "compiled cells time eager and compiled taking turns, their speedup is eager median / "
    "compiled median with a 95% bootstrap interval",
    "memory: eager, the peak tracemalloc sees in one call; compiled, the footprint (arena + "
    "elementwise workspace + input/output buffers + the peak traced in the call); onnxruntime "
    "allocates out of tracemalloc's sight and is not measured (-)",
    "correct: the float64 oracle's verdict on the compiled (or ONNX Runtime) outputs against "
    "eager's error; error: the worst output's error relative to its scale",
)


def series_name(row: dict[str, Any]) -> str:
    """One line of a plot: backend, planner where it applies, precision."""
    planner = f"/{row['planner']}" if row["planner"] != NOT_APPLICABLE else ""
    return f"{row['backend']}{planner} {row['precision']}"


# -- text ----------------------------------------------------------------------------------------

def render_table(rows: Rows, events: Rows = (), sweeps: Rows = ()) -> str:
    headers = ["model", "batch", "series", "latency ms (p10-p90)", "memory", "arena",
               "speedup [95%]", "correct", "error", "calls", "tries", "host"]
    body = [_table_row(r) for r in rows]
    widths = [max(len(x) for x in col) for col in zip(headers, *body)]
    lines = [f"Sweep: {len(rows)} finished cells" + _machines(rows)]
    for cells in [headers, *body]:
        lines.append("  ".join(x.ljust(w) if i < 3 else x.rjust(w)
                               for i, (x, w) in enumerate(zip(cells, widths))).rstrip())
    lines += ["", *(f"  {h}" for h in HOW)]
    lines += _event_lines(events) + _sweep_lines(sweeps)
    return "\n".join(lines) + "\n"


def _table_row(r: dict[str, Any]) -> list[str]:
    speedup = ("-" if r["speedup_ratio"] is None else
               f"{r['speedup_ratio']:.2f}x [{r['speedup_low_ratio']:.2f}, "
               f"{r['speedup_high_ratio']:.2f}]")
    correct = "-" if r["correct"] is None else "PASS" if r["correct"] else "FAIL"
    return [r["model"], str(r["batch"]), series_name(r),
            f"{r['latency_median_ms']:.3f} ({r['latency_p10_ms']:.3f}-{r['latency_p90_ms']:.3f})",
            _nbytes(r["memory_nbytes"]), _nbytes(r["arena_nbytes"]), speedup, correct,
            "-" if r["error_ratio"] is None else f"{r['error_ratio']:.1e}",
            str(r["timed_calls"]), str(r["attempts"]), str(r["hostname"])]


def _nbytes(n: int | None) -> str:
    return "-" if n is None else format_nbytes(n)


def _machines(rows: Rows) -> str:
    machines = sorted({(r["hostname"], r["cpu"], r["cpu_count"]) for r in rows})
    versions = sorted({r["mlxa_version"] for r in rows})
    text = "; ".join(f"{h} ({cpu}, {n} CPUs)" for h, cpu, n in machines)
    return f" on {text}; mlxa {', '.join(versions)}" if rows else ""


def _event_lines(events: Rows) -> list[str]:
    shown = [e for e in events if e["kind"] in ("retried", "requeued", "failed", "worker_lost")]
    if not shown:
        return []
    return ["", "Events:"] + [f"  {e['date']}  {e['kind']:<11} {e['label'] or '-'}: "
                              f"{e['detail']}" for e in shown]


def _sweep_lines(sweeps: Rows) -> list[str]:
    if not sweeps:
        return []
    lines = ["", "Sweeps:"]
    for s in sweeps:
        lines.append(f"  {s['started']}  {s['status']:<11} {s['cluster']}: {s['grid_cells']} "
                     f"cells, {s['skipped']} skipped, {s['finished_cells'] or 0} run, "
                     f"{s['failed_cells'] or 0} failed, {s['retried_cells'] or 0} retried")
    return lines


# -- plots ---------------------------------------------------------------------------------------

def against_batch_png(rows: Rows, metric: str) -> bytes:
    """Latency (`latency_median_ms`, p10-p90 as error bars) or memory (`memory_nbytes`) against
    batch, one panel per model, one line per series; PNG bytes."""
    plt = _pyplot()
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r[metric] is not None:
            by_model[r["model"]].append(r)
    models = sorted(by_model) or ["(no data)"]
    cols = min(3, len(models))
    fig, axes = plt.subplots(math.ceil(len(models) / cols), cols, squeeze=False,
                             figsize=(4.2 * cols, 3.3 * math.ceil(len(models) / cols)), dpi=100)
    names = sorted({series_name(r) for r in rows})
    colors = {name: f"C{i % 10}" for i, name in enumerate(names)}  # one colour per series
    try:
        for ax, model in zip(axes.flat, models):
            _panel(ax, by_model.get(model, []), metric, model, colors)
        for ax in list(axes.flat)[len(models):]:
            ax.set_visible(False)
        what = ("latency per inference, median (bars: p10-p90)" if metric == "latency_median_ms"
                else "activation memory of one inference (eager peak; compiled footprint)")
        fig.suptitle(f"Sweep: {what} against batch")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)


def _panel(ax: Any, rows: list[dict[str, Any]], metric: str, model: str,
           colors: dict[str, str]) -> None:
    series: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        series[series_name(r)].append(r)
    for name, points in sorted(series.items()):
        points.sort(key=lambda r: r["batch"])
        x = [r["batch"] for r in points]
        if metric == "latency_median_ms":
            y = [r["latency_median_ms"] for r in points]
            err = [[v - r["latency_p10_ms"] for v, r in zip(y, points)],
                   [r["latency_p90_ms"] - v for v, r in zip(y, points)]]
            ax.errorbar(x, y, yerr=err, marker="o", ms=4, capsize=3, label=name,
                        color=colors[name])
        else:
            ax.plot(x, [r[metric] / 2**20 for r in points], marker="o", ms=4, label=name,
                    color=colors[name])
    ax.set_title(model, fontsize=10)
    ax.set_xscale("log", base=2)
    batches = sorted({r["batch"] for r in rows})
    ax.set_xticks(batches, [str(b) for b in batches])
    ax.set_xlabel("batch")
    ax.set_ylabel("ms" if metric == "latency_median_ms" else "MiB")
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize=7)


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserInputError("the sweep report's plots need matplotlib: "
                             "pip install 'mlxa[plots]'") from None
    return plt


# -- files ---------------------------------------------------------------------------------------

def report_files(store: Store, out: Path, name: str = "sweep") -> dict[Path, bytes]:
    """Every file of the report by path: table, two PNGs, Parquet, and HTML when available."""
    rows, events, sweeps = store.cells(), store.events(), store.sweeps()
    if not rows:
        raise UserInputError(f"sweep store {str(store.path)!r} holds no finished cell yet")
    figures = {f"{name}_latency.png": against_batch_png(rows, "latency_median_ms"),
               f"{name}_memory.png": against_batch_png(rows, "memory_nbytes")}
    files = {out / f"{name}_table.txt": render_table(rows, events, sweeps).encode(),
             out / f"{name}_cells.parquet": _parquet(store),
             **{out / k: v for k, v in figures.items()}}
    html = _html(rows, events, figures)
    if html is not None:
        files[out / f"{name}.html"] = html.encode()
    return files


def write_report(store: Store, out: Path, name: str = "sweep") -> tuple[Path, ...]:
    files = report_files(store, out, name)
    write_files(files)
    return tuple(files)


def _parquet(store: Store) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cells.parquet"
        store.export_parquet(path)
        return path.read_bytes()


def _html(rows: Rows, events: Rows, figures: dict[str, bytes]) -> str | None:
    """The HTML report's sweep section, when mlxa.report.html is there and renders sweeps:
    `render_sweep(rows, events, figures) -> str` (rows and events as the store holds them,
    figures as PNG bytes by file name). Optional: without it the report has no HTML."""
    try:
        module = importlib.import_module("mlxa.report.html")
    except ModuleNotFoundError as e:
        if e.name != "mlxa.report.html":
            raise
        return None
    render = getattr(module, "render_sweep", None)
    return None if render is None else str(render(list(rows), list(events), dict(figures)))
