"""The sweep as one self-contained HTML page, built from the HTML report's parts
(mlxa.report.html: the page, its style and script, the sortable table, `esc`): a summary, each
figure (the report's PNGs inline as data: images, which the page's policy allows; nothing is
fetched), the sortable table of every cell, the events and the sweeps. Every string from the
store goes through `esc`. Without mlxa.report.html there is no page (`sweep_html` gives None).
"""

from __future__ import annotations

import base64
import importlib.util
import json
from collections.abc import Mapping, Sequence
from typing import Any

from mlxa.units import format_nbytes

Rows = Sequence[dict[str, Any]]
FIGURE_TITLES = (("latency", "Latency against batch"), ("memory", "Memory against batch"),
                 ("int8_gain", "INT8 gain against batch"))


def html_available() -> bool:
    return importlib.util.find_spec("mlxa.report.html") is not None


def sweep_html(rows: Rows, events: Rows, sweeps: Rows, figures: Mapping[str, bytes],
               how: Sequence[str]) -> str | None:
    """The page, or None when the HTML report is not installed. `figures`: PNG bytes by a name
    ending in one of FIGURE_TITLES' keys plus `.png`."""
    if not html_available():
        return None
    from mlxa.report.html import page
    from mlxa.report.svg import esc

    how_html = "".join(f'<p class="how">How measured: {esc(h)}</p>' for h in how)
    sections = [("summary", "Summary", _summary(rows, sweeps) + how_html)]
    for key, title in FIGURE_TITLES:
        png = next((v for k, v in figures.items() if k.endswith(f"_{key}.png")), None)
        if png is not None:
            data = base64.b64encode(png).decode()
            sections.append((key, title, f'<img alt="{esc(title)}" style="max-width:100%" '
                                         f'src="data:image/png;base64,{data}">'))
    sections.append(("cells", "Cells", _cells(rows)))
    if events:
        sections.append(("events", "Events", _events(events)))
    return page("mlxa sweep", esc(f"{len(rows)} finished cells"), sections)


def _summary(rows: Rows, sweeps: Rows) -> str:
    from mlxa.report.html import table

    machines = sorted({(r["hostname"], r["cpu"], r["cpu_count"]) for r in rows})
    lines = [(f"machine {i + 1}", f"{h}: {cpu}, {n} CPUs")
             for i, (h, cpu, n) in enumerate(machines)]
    lines += [("mlxa", ", ".join(sorted({str(r["mlxa_version"]) for r in rows})))]
    lines += [(f"sweep {s['sweep_id']}",
               f"{s['started']} {s['status']} on {s['cluster']}: {s['grid_cells']} cells, "
               f"{s['skipped']} skipped, {s['finished_cells'] or 0} run, "
               f"{s['failed_cells'] or 0} failed, {s['retried_cells'] or 0} retried")
              for s in sweeps]
    return table(("what", "value"), lines, left="0,1")


def _cells(rows: Rows) -> str:
    from mlxa.report.html import table

    header = ("model", "batch", "precision", "backend", "planner", "median ms", "p10 ms",
              "p90 ms", "memory", "arena", "speedup", "correct", "error", "tries", "host",
              "BLAS", "date")
    body = [(r["model"], (str(r["batch"]), r["batch"]), r["precision"], r["backend"],
             r["planner"], _num(r["latency_median_ms"], ".3f"), _num(r["latency_p10_ms"], ".3f"),
             _num(r["latency_p90_ms"], ".3f"), _bytes(r["memory_nbytes"]),
             _bytes(r["arena_nbytes"]), _num(r["speedup_ratio"], ".2f"),
             "-" if r["correct"] is None else "PASS" if r["correct"] else "FAIL",
             _num(r["error_ratio"], ".1e"), str(r["attempts"]), str(r["hostname"]),
             _blas(r["blas"]), str(r["date"]))
            for r in rows]
    return table(header, body, left="0,2,3,4,14,15,16", sortable=True)


def _events(events: Rows) -> str:
    from mlxa.report.html import table

    return table(("date", "kind", "cell", "worker", "detail"),
                 [(e["date"], e["kind"], e["label"] or "-", e["worker"] or "-", e["detail"])
                  for e in events], left="0,1,2,3,4")


def _num(value: float | None, fmt: str) -> tuple[str, float] | str:
    return "-" if value is None else (format(value, fmt), value)


def _bytes(value: int | None) -> tuple[str, int] | str:
    return "-" if value is None else (format_nbytes(value), value)


def _blas(text: str | None) -> str:
    try:
        blas = json.loads(text or "{}")
    except ValueError:
        return "?"
    return f"{blas.get('library', '?')} {blas.get('architecture') or ''} x{blas.get('threads')}"
