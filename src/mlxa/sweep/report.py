"""Renderers of a sweep store: the table as text, latency, memory and (with int8 cells) the INT8
gain against batch per model as PNGs, the cells as Parquet, and an HTML page when the HTML
report (mlxa.report.html) is installed.

Each renderer takes the rows the store holds (plain dicts, one per finished cell), so a store
renders again at any time, on any machine; `write_report` writes every file or none.
"""

from __future__ import annotations

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
from mlxa.sweep.html import sweep_html
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
    "eager's error; error: the worst output's error relative to its scale; int8 cells are "
    "quantized (calibrated on the measured input and 2 seeded random batches) and judged by the "
    "oracle's quantized rule (output SQNR against float64 >= 15 dB); their speedup is over fp32 "
    "eager",
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
    lines += _gain_lines(rows) + _event_lines(events) + _sweep_lines(sweeps)
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


def int8_gains(rows: Rows) -> list[dict[str, Any]]:
    """For each compiled int8 cell with its fp32 twin (same model, batch, planner): the gain,
    fp32 median latency / int8 median latency, as a row the plots draw (`int8_gain_ratio`)."""
    fp32 = {(r["model"], r["batch"], r["planner"]): r for r in rows
            if r["backend"] == "compiled" and r["precision"] == "fp32"}
    gains = []
    for r in rows:
        twin = fp32.get((r["model"], r["batch"], r["planner"]))
        if r["backend"] == "compiled" and r["precision"] == "int8" and twin is not None:
            gains.append({**r, "int8_gain_ratio":
                          twin["latency_median_ms"] / r["latency_median_ms"]})
    return gains


def _gain_lines(rows: Rows) -> list[str]:
    gains = int8_gains(rows)
    if not gains:
        return []
    return ["", "INT8 gain (compiled fp32 median / compiled int8 median; above 1: int8 faster):"] \
        + [f"  {g['model']} b{g['batch']} {g['planner']}: {g['int8_gain_ratio']:.2f}x "
           f"(int8 error {g['error_ratio']:.1e} of the output's scale)"
           if g["error_ratio"] is not None else
           f"  {g['model']} b{g['batch']} {g['planner']}: {g['int8_gain_ratio']:.2f}x"
           for g in gains]


# -- plots ---------------------------------------------------------------------------------------

TITLES = {"latency_median_ms": "latency per inference, median (bars: p10-p90)",
          "memory_nbytes": "activation memory of one inference (eager peak; compiled footprint)",
          "int8_gain_ratio": "INT8 gain: compiled fp32 median / compiled int8 median"}
UNITS = {"latency_median_ms": "ms", "memory_nbytes": "MiB", "int8_gain_ratio": "x"}


def against_batch_png(rows: Rows, metric: str) -> bytes:
    """Latency (`latency_median_ms`, p10-p90 as error bars), memory (`memory_nbytes`) or the
    INT8 gain (`int8_gain_ratio`, rows from int8_gains) against batch, one panel per model, one
    line per series; PNG bytes."""
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
        fig.suptitle(f"Sweep: {TITLES[metric]} against batch")
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
            err = [[max(v - r["latency_p10_ms"], 0.0) for v, r in zip(y, points)],
                   [max(r["latency_p90_ms"] - v, 0.0) for v, r in zip(y, points)]]
            ax.errorbar(x, y, yerr=err, marker="o", ms=4, capsize=3, label=name,
                        color=colors[name])
        else:
            scale = 2**20 if metric == "memory_nbytes" else 1
            ax.plot(x, [r[metric] / scale for r in points], marker="o", ms=4, label=name,
                    color=colors[name])
    if metric == "int8_gain_ratio":
        ax.axhline(1.0, color="0.5", lw=0.8, ls="--")
    ax.set_title(model, fontsize=10)
    ax.set_xscale("log", base=2)
    batches = sorted({r["batch"] for r in rows})
    ax.set_xticks(batches, [str(b) for b in batches])
    ax.set_xlabel("batch")
    ax.set_ylabel(UNITS[metric])
    if metric == "latency_median_ms":  # series an order of magnitude apart, and p90 outliers
        ax.set_yscale("log")
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
    """Every file of the report by path: the table, the PNGs, Parquet, and HTML when the HTML
    report is installed."""
    rows, events, sweeps = store.cells(), store.events(), store.sweeps()
    if not rows:
        raise UserInputError(f"sweep store {str(store.path)!r} holds no finished cell yet")
    figures = {f"{name}_latency.png": against_batch_png(rows, "latency_median_ms"),
               f"{name}_memory.png": against_batch_png(rows, "memory_nbytes")}
    gains = int8_gains(rows)
    if gains:
        figures[f"{name}_int8_gain.png"] = against_batch_png(gains, "int8_gain_ratio")
    files = {out / f"{name}_table.txt": render_table(rows, events, sweeps).encode(),
             out / f"{name}_cells.parquet": _parquet(store),
             **{out / k: v for k, v in figures.items()}}
    html = sweep_html(rows, events, sweeps, figures, HOW)
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
