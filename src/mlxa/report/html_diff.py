"""Two runs side by side in one HTML page: the headline figures in one table with the ratio B / A,
the per-node times of the compiled runs joined by step when both have them, then each run's
figures in two columns (A left, B right). Rendered from the two RunResults alone."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mlxa.report.html import (
    esc,
    graph_html,
    machine_html,
    page,
    summary_html,
    table,
    timeline_html,
)
from mlxa.result import RunResult
from mlxa.units import format_ms, format_nbytes

Figure = tuple[str, Callable[[RunResult], float | None], Callable[[float], str], bool]
# name, value of a run (None: not in it), format, lower is better
FIGURES: tuple[Figure, ...] = (
    ("eager median", lambda r: r.baseline.latency.median_ms if r.baseline else None,
     format_ms, True),
    ("compiled median", lambda r: r.optimized.latency.median_ms if r.optimized else None,
     format_ms, True),
    ("speedup", lambda r: r.comparison.speedup_ratio if r.comparison else None,
     lambda v: f"{v:.2f}x", False),
    ("arena", lambda r: r.plan.arena_nbytes if r.plan else None, format_nbytes, True),
    ("lower bound", lambda r: r.plan.lower_bound_nbytes if r.plan else None, format_nbytes,
     True),
    ("footprint", lambda r: r.plan.footprint_nbytes if r.plan else None, format_nbytes, True),
    ("eager peak", lambda r: r.baseline.memory.peak_traced_nbytes if r.baseline else None,
     format_nbytes, True),
    ("compile time", lambda r: r.plan.compile_ms if r.plan else None, format_ms, True),
    ("nodes as written", lambda r: r.model.nodes, lambda v: f"{v:,.0f}", True),
    ("compiled nodes", lambda r: len(r.plan.nodes) if r.plan and r.plan.nodes else None,
     lambda v: f"{v:,.0f}", True),
)


def render_diff_html(a: RunResult, b: RunResult, names: Sequence[str] = ("A", "B")) -> str:
    title = f"mlxa: {names[0]} vs {names[1]}"
    sub = " &middot; ".join(f"{esc(n)}: {esc(r.model.description)} ({esc(r.meta.date)})"
                            for n, r in zip(names, (a, b)))
    sections = [("diff", "Side by side", _figures_table(a, b, names))]
    if _both_timed(a, b):
        sections.append(("per-op-diff", "Per-node time, compiled", _per_op_diff(a, b, names)))
    for anchor, heading, render in (("summary", "Summary", summary_html),
                                    ("graph", "Compiled graph", graph_html),
                                    ("timeline", "Memory timeline", timeline_html),
                                    ("machine", "Machine", machine_html)):
        if anchor in ("graph", "timeline") and not (a.plan and b.plan):
            continue
        if anchor == "graph" and not (a.plan and a.plan.nodes and b.plan and b.plan.nodes):
            continue
        cols = "".join(f"<div><h3>{esc(n)}</h3>{render(r)}</div>" for n, r in zip(names, (a, b)))
        sections.append((anchor, heading, f'<div class="cols">{cols}</div>'))
    return page(title, sub, sections)


def _figures_table(a: RunResult, b: RunResult, names: Sequence[str]) -> str:
    rows = []
    for name, value, fmt, lower_better in FIGURES:
        va, vb = value(a), value(b)
        if va is None and vb is None:
            continue
        ratio = vb / va if va and vb is not None else None
        rows.append((name, fmt(va) if va is not None else "-", fmt(vb) if vb is not None else "-",
                     "-" if ratio is None else f"{ratio:.3f}", _verdict(ratio, lower_better)))
    head = ("figure", names[0], names[1], f"{names[1]} / {names[0]}", f"{names[1]} is")
    return (f'<p class="how">How measured: each figure as in its run\'s own report (below); '
            f'the ratio is {esc(names[1])} over {esc(names[0])}; within 2% reads "same". Runs on '
            "different machines or loads compare those too (see Machine).</p>"
            + table(head, rows, "l"))


def _verdict(ratio: float | None, lower_better: bool) -> str:
    if ratio is None or abs(ratio - 1) <= 0.02:
        return "-" if ratio is None else "same"
    return "better" if (ratio < 1) == lower_better else "worse"


def _both_timed(a: RunResult, b: RunResult) -> bool:
    return all(r.optimized is not None and r.optimized.per_op is not None for r in (a, b))


def _per_op_diff(a: RunResult, b: RunResult, names: Sequence[str]) -> str:
    """Compiled nodes joined by step and op: the same graph compiled twice lines up."""
    assert a.optimized and a.optimized.per_op and b.optimized and b.optimized.per_op
    rows_b = {(n.index, n.op): n for n in b.optimized.per_op.nodes}
    rows = []
    for n in sorted(a.optimized.per_op.nodes, key=lambda n: -n.median_ms):
        m = rows_b.get((n.index, n.op))
        if m is None:
            continue
        ratio = m.median_ms / n.median_ms if n.median_ms > 0 else 0.0
        rows.append(((str(n.index), n.index), n.name if n.op == "fused" else n.op,
                     (f"{n.median_ms:.4f}", n.median_ms), (f"{m.median_ms:.4f}", m.median_ms),
                     (f"{ratio:.3f}", ratio)))
    head = ("node", "op", f"{names[0]} ms", f"{names[1]} ms", f"{names[1]} / {names[0]}")
    return ('<p class="how">How measured: median ms per node (--per-op) of each run; nodes '
            "matched by step and op (both runs of the same compiled graph). Click a header to "
            "sort.</p>" + table(head, rows, "1", sortable=True))
