"""The HTML report: one self-contained page rendered from a RunResult alone.

Sections: summary, the compiled graph (zoomable), the memory timeline, the roofline (when the run
has per-op times or the caller has the machine's ceilings), per-op tables (sortable), the machine's
fingerprint; each figure with a note on how it was measured. Style and script are inlined, figures
are inline SVG, and a Content-Security-Policy forbids every request, so the file opens offline.
Every string from a model, a path or a command line goes through `esc`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from mlxa.report.html_assets import CSP, asset
from mlxa.report.svg import color_for, esc
from mlxa.report.svg_graph import graph_svg
from mlxa.report.svg_roofline import COLORS, Ceilings, points, roofline_svg
from mlxa.report.svg_timeline import timeline_svg
from mlxa.result import Execution, NodeCost, PerOp, RunResult
from mlxa.units import format_flops, format_ms, format_nbytes

HOW = {
    "summary": "Latency: time.perf_counter around each call, eager and compiled taking turns after "
               "the warm-up; median and p10-p90 over the timed calls. Speedup: eager median / "
               "compiled median, 95% bootstrap interval. Memory: tracemalloc peak within one "
               "eager inference vs the compiled footprint (arena + workspace + input/output "
               "buffers + traced peak). Correctness: each executor against a float64 run.",
    "graph": "The compiled graph as the pipeline left it (batch norms folded, elementwise chains "
             "fused into one node, outlined in orange). Boxes in program order; '@' is the "
             "output's offset in the arena, 'out' a graph output held outside it."
             " Right: each output's bytes at its offset, over its lifetime [defined, last use "
             "+ 1). Drag to pan, wheel or buttons to zoom; hover for details.",
    "timeline": "From the plan in the run: every planned buffer (intermediates and op scratch) at "
                "its offset over its lifetime, coloured by the op that allocates it; the black "
                "line is the bytes alive at each step, the dashed rule the lower bound (the most "
                "bytes alive at one step, 64-byte aligned), the solid rule the arena.",
    "roofline": "One point per timed node (area: share of its executor's time): GFLOP/s = the "
                "op table's FLOPs / the node's median time (--per-op, timer overhead subtracted); "
                "intensity = FLOPs / bytes moved (every input read once, every output written "
                "once).",
    "per_op": "Median ms of each node over whole inferences (--per-op), less the timer's "
              "overhead; FLOPs and bytes from the op table's cost rules. Click a header to sort.",
    "costs": "FLOPs and bytes per node of the graph as written, from the op table's cost rules "
             "(no timings: run analyze with --per-op). Click a header to sort.",
    "machine": "Read when the run started: /proc/cpuinfo (model, SIMD flags), the affinity mask "
               "(CPUs), os.getloadavg (1-minute load), threadpoolctl or numpy's config (BLAS).",
}


def render_html(run: RunResult, ceilings: Ceilings | None = None) -> str:
    title = f"mlxa: {run.model.name}"
    return page(title, f"{esc(run.model.description)} &middot; {esc(run.meta.date)}",
                list(run_sections(run, ceilings)))


def page(title: str, subtitle_html: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """A whole document: `sections` are (anchor, heading, inner HTML)."""
    nav = "".join(f'<a href="#{a}">{esc(h)}</a>' for a, h, _ in sections)
    body = "".join(f'<section id="{a}"><h2>{esc(h)}</h2>{inner}</section>'
                   for a, h, inner in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{asset('report.css')}</style></head><body>"
            f"<header><h1>{esc(title)}</h1><p>{subtitle_html}</p></header><nav>{nav}</nav>"
            f"<main>{body}</main><script>{asset('report.js')}</script></body></html>\n")


def run_sections(run: RunResult, ceilings: Ceilings | None = None,
                 prefix: str = "") -> Iterable[tuple[str, str, str]]:
    yield prefix + "summary", "Summary", summary_html(run)
    if run.plan is not None and run.plan.nodes:
        yield prefix + "graph", "Compiled graph", graph_html(run)
    if run.plan is not None:
        yield prefix + "timeline", "Memory timeline", timeline_html(run)
    pts = points(run)
    if pts or ceilings is not None:
        yield prefix + "roofline", "Roofline", roofline_html(run, ceilings)
    yield prefix + "per-op", "Per-op", per_op_html(run)
    yield prefix + "machine", "Machine", machine_html(run)


def how(key: str) -> str:
    return f'<p class="how">How measured: {esc(HOW[key])}</p>'


def card(value: str, label: str, cls: str = "") -> str:
    return f'<div class="card"><b class="{cls}">{esc(value)}</b><span>{esc(label)}</span></div>'


def summary_html(run: RunResult) -> str:
    cards = []
    for key, part in (("eager", run.baseline), ("compiled", run.optimized)):
        if part is not None:
            lat = part.latency
            cards.append(card(format_ms(lat.median_ms), f"{key} median (p10 "
                              f"{lat.p10_ms:.3f}, p90 {lat.p90_ms:.3f}; {lat.repeat} runs)"))
    cmp = run.comparison
    if cmp is not None:
        cards.append(card(f"{cmp.speedup_ratio:.2f}x", f"speedup (95%: {cmp.speedup_low_ratio:.2f}"
                          f"x to {cmp.speedup_high_ratio:.2f}x)"))
        cards.append(card(f"{cmp.memory.reduction_pct:.1f}%", "less activation memory "
                          f"({format_nbytes(cmp.memory.baseline_nbytes)} -> "
                          f"{format_nbytes(cmp.memory.optimized_nbytes)})"))
        ok = cmp.correctness.passed
        cards.append(card("PASS" if ok else "FAIL", "compiled vs eager against float64",
                          "pass" if ok else "fail"))
    if run.plan is not None:
        p = run.plan
        ratio = p.arena_nbytes / p.lower_bound_nbytes if p.lower_bound_nbytes else 1.0
        cards.append(card(format_nbytes(p.arena_nbytes), f"arena ({p.winning_strategy}); "
                          f"{ratio:.3f}x the lower bound {format_nbytes(p.lower_bound_nbytes)}"))
        cards.append(card(str(len(p.fusion_groups)), f"fused groups; {p.inplace_ops} in place"))
        cards.append(card(format_ms(p.compile_ms), "compile time"))
    m = run.model
    facts = [("model", m.description), ("inputs", ", ".join(m.inputs)),
             ("nodes", f"{m.nodes} as written" + (f", {len(run.plan.nodes)} compiled"
                                                  if run.plan and run.plan.nodes else "")),
             ("parameters", f"{m.params:,} ({format_nbytes(m.param_nbytes)})"),
             ("work", f"{format_flops(m.flops)} per inference"),
             ("config", f"mode {run.config.mode}, planner {run.config.planner}, warm-up "
                        f"{run.config.warmup}, budget {run.config.budget_s:g} s")]
    warn = "".join(f'<p class="warn">Warning: {esc(w)}</p>' for w in run.warnings)
    return (f'<div class="cards">{"".join(cards)}</div>{how("summary")}{warn}'
            f"{kv(facts)}")


def kv(pairs: Iterable[tuple[str, str]]) -> str:
    return ('<dl class="kv">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in pairs)
            + "</dl>")


def zoom_frame(svg: str, short: bool = False) -> str:
    cls = "frame zoom short" if short else "frame zoom"
    fit = ' data-fit="1"' if short else ""
    buttons = "".join(f'<button type="button" data-z="{z}">{t}</button>'
                      for z, t in (("in", "+"), ("out", "&minus;"), ("fit", "fit"),
                                   ("top", "reset")))
    return f'<div class="{cls}"{fit}><div class="tools">{buttons}</div>{svg}</div>'


def legend(ops: Iterable[str]) -> str:
    items = "".join(f'<i style="background:{color_for(op)}"></i>{esc(op)}'
                    for op in dict.fromkeys(ops))
    return f'<div class="legend">{items}</div>'


def graph_html(run: RunResult) -> str:
    assert run.plan is not None
    nodes = run.plan.nodes
    chains = Counter(n.chain.replace(">", " > ") for n in nodes if n.op == "fused")
    groups = ", ".join(f"{c} (x{k})" if k > 1 else c for c, k in chains.items()) or "none"
    return (how("graph") + legend(n.op for n in nodes)
            + zoom_frame(graph_svg(nodes, run.plan.arena_nbytes))
            + f"<p>{len(nodes)} nodes; fused groups: {esc(groups)}</p>")


def timeline_html(run: RunResult) -> str:
    plan = run.plan
    assert plan is not None
    rows = [("planner", "arena")] + [(k, format_nbytes(v))
                                     for k, v in plan.planners_arena_nbytes.items()]
    steps = " -> ".join(f"{name} {format_nbytes(n)}" for name, n in plan.bound_steps_nbytes)
    return (how("timeline") + legend(b.kind for b in plan.buffers)
            + zoom_frame(timeline_svg(plan), short=True)
            + f"<p>Lower bound by step: {esc(steps)}</p>" + table(rows[0], rows[1:], "l"))


def roofline_html(run: RunResult, ceilings: Ceilings | None) -> str:
    roofs = (f"Ceilings: {esc(ceilings.how or 'given by the caller')}." if ceilings else
             "No ceilings in this run: the points alone (measure the machine's roofs with "
             "<code>mlxa machine</code>).")
    keys = "".join(f'<i style="background:{COLORS[k]}"></i>{name}'
                   for k, name in (("baseline", "eager"), ("optimized", "compiled")))
    return (how("roofline") + f"<p>{roofs}</p>" + f'<div class="legend">{keys}</div>'
            + f'<div class="frame plain">{roofline_svg(points(run), ceilings)}</div>')


def table(header: Sequence[str], rows: Iterable[Sequence[object]], left: str = "",
          sortable: bool = False) -> str:
    """Cells are text, or (text, sort value) pairs; columns named in `left` align left."""
    def cell(c: object, tag: str, i: int) -> str:
        text, value = c if isinstance(c, tuple) else (c, None)
        cls = ' class="l"' if str(i) in left.split(",") or (i == 0 and left == "l") else ""
        data = f' data-v="{value}"' if value is not None else ""
        return f"<{tag}{cls}{data}>{esc(text)}</{tag}>"
    head = "".join(cell(h, "th", i) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell(c, "td", i) for i, c in enumerate(r)) + "</tr>"
                   for r in rows)
    cls = ' class="sortable"' if sortable else ""
    return (f'<div class="scroll"><table{cls}><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def per_op_html(run: RunResult) -> str:
    parts = [(t, e.per_op) for t, e in (("compiled", run.optimized), ("eager", run.baseline))
             if isinstance(e, Execution) and e.per_op is not None]
    if not parts:
        return how("costs") + cost_table(run.model.ops)
    out = [how("per_op")]
    for title, per in parts:
        assert per is not None
        out.append(f"<h3>{esc(title)}: {len(per.nodes)} nodes, sum {format_ms(per.sum_ms)} vs "
                   f"end-to-end {format_ms(per.end_to_end_ms)}</h3>" + per_op_table(per))
    return "".join(out)


def per_op_table(per: PerOp) -> str:
    header = ("node", "op", "name", "shape", "median ms", "share %", "FLOPs", "bytes",
              "GFLOP/s", "GB/s", "FLOP/B")
    rows = []
    for n in sorted(per.nodes, key=lambda n: -n.median_ms):
        s = n.median_ms / 1e3
        gf = n.flops / s / 1e9 if s > 0 else 0.0
        gb = n.moved_nbytes / s / 1e9 if s > 0 else 0.0
        ai = n.flops / n.moved_nbytes if n.moved_nbytes else 0.0
        rows.append(((str(n.index), n.index), n.op, n.name, "x".join(map(str, n.shape)),
                     (f"{n.median_ms:.4f}", n.median_ms), (f"{n.share_pct:.1f}", n.share_pct),
                     (format_flops(n.flops), n.flops),
                     (format_nbytes(n.moved_nbytes), n.moved_nbytes),
                     (f"{gf:.2f}", gf), (f"{gb:.2f}", gb), (f"{ai:.2f}", ai)))
    return table(header, rows, "1,2,3", sortable=True)


def cost_table(ops: Sequence[NodeCost]) -> str:
    header = ("node", "op", "shape", "FLOPs", "read", "written", "FLOP/B")
    rows = [((str(n.index), n.index), n.op, "x".join(map(str, n.shape)),
             (format_flops(n.flops), n.flops), (format_nbytes(n.read_nbytes), n.read_nbytes),
             (format_nbytes(n.written_nbytes), n.written_nbytes),
             (f"{_intensity(n):.2f}", _intensity(n))) for n in ops]
    return table(header, rows, "1,2", sortable=True)


def _intensity(n: NodeCost) -> float:
    moved = n.read_nbytes + n.written_nbytes
    return n.flops / moved if moved else 0.0


def machine_html(run: RunResult) -> str:
    meta, blas = run.meta, run.meta.blas
    kernel = " ".join(str(blas[k]) for k in ("library", "version", "architecture")
                      if blas.get(k))
    load = f"{meta.load_average:.2f}" if meta.load_average is not None else "unknown"
    threads = (f"BLAS {blas.get('threads')}; --threads "
               f"{run.config.threads if run.config.threads else 'not set'}")
    pairs = [("CPU", meta.cpu), ("SIMD flags", " ".join(meta.cpu_flags) or "not recorded"),
             ("CPUs usable", str(meta.cpu_count)), ("threads", threads),
             ("load (1 min)", f"{load} on {meta.cpu_count} CPUs"), ("BLAS", kernel),
             ("software", f"mlxa {meta.mlxa_version}, Python {meta.python_version}, "
                          f"numpy {meta.numpy_version}"),
             ("platform", meta.platform), ("date", meta.date), ("command", meta.command)]
    return how("machine") + kv(pairs)
