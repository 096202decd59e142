"""`mlxa roofline` as text: per executor, the nodes by time with their roof, then the ten nodes
that lose the most time against their roof, and what would help each."""

from __future__ import annotations

import json

from mlxa.analysis.roofline import ExecutorRoofline, RooflineResult, RooflineRow, time_unit
from mlxa.units import format_flops, format_nbytes

ROWS = 25


def render_json(result: RooflineResult) -> str:
    return json.dumps(result.to_json(), indent=2, allow_nan=False) + "\n"


def render_roofline_text(r: RooflineResult) -> str:
    lines = [f"mlxa roofline: {_clean(r.model)} ({_clean(r.description)}), inputs "
             f"{', '.join(r.inputs)}",
             f"{r.meta.get('cpu')}, {r.meta.get('date')}; ceilings {r.ceilings_fingerprint}"
             f" ({_clean(r.ceilings_note)})",
             f"compute roof: {r.peak_flops_per_s / 1e9:.1f} GFLOP/s, a 1024^3 matmul timed in the "
             f"same rounds (median; the cached best-of peak is "
             f"{r.ceilings_peak_flops_per_s / 1e9:.1f}); bandwidth roofs from the ceilings: the "
             "working set's copy rate, and for inputs last touched further back (their reuse "
             "distance; column far) the reread rate at that distance",
             f"call floor: {r.call_floor_s * 1e6:.2f} us, {r.meta.get('call_floor', 'a call')}"
             " timed in the same rounds, added to every node's roof time; load floor: "
             f"{r.load_floor_s * 1e6:.2f} us, {r.meta.get('load_floor', 'a copy')}, added to "
             "row in's (the compiled executor's copy of the inputs)",
             ""]
    for ex in r.executors:
        lines += _executor(ex) + [""]
    lines.append("Top 10 nodes by time lost against their roof (compiled)")
    scale, unit = time_unit(r.executors[0].end_to_end.median_s)
    for row in r.top_lost():
        lines.append(f"  {row.work.label:<5} {_clean(row.work.op)[:28]:<28} lost "
                     f"{row.lost_ms * scale:8.3f} {unit} ({row.measured_ms * scale:.3f} measured,"
                     f" {row.predicted_ms * scale:.3f} predicted): {row.hint}")
    lines += [f"  warning: {w}" for w in r.warnings]
    return "\n".join(lines) + "\n"


def _executor(ex: ExecutorRoofline) -> list[str]:
    e2e = ex.end_to_end
    sums = ex.round_sums
    calls = sum(r.work.index >= 0 for r in ex.rows)
    copy = " and its input copy" if calls < len(ex.rows) else ""
    scale, unit = time_unit(e2e.median_s)
    s_to = scale * 1e3  # seconds to the unit
    head = [f"{ex.executor}: {calls} calls{copy} over {ex.rounds} rounds; node times summed "
            f"{sums.median_s * s_to:.2f} {unit} (median round; sum of node medians "
            f"{ex.sum_ms * scale:.2f}) vs end-to-end {e2e.median_s * s_to:.2f} {unit} "
            f"(p10 {e2e.p10_s * s_to:.2f}, p90 {e2e.p90_s * s_to:.2f}): "
            f"{ex.sum_vs_end_to_end_pct:+.1f}%; roofline within 2x of measured for "
            f"{ex.within_pct:.0f}% of the time",
            f"  {'node':<6}{'op':<26}{'shape':<18}{unit:>9}{'share':>7}{'FLOPs':>13}"
            f"{'bytes':>11}{'far':>10}{'FLOP/B':>8}{'GFLOP/s':>9}{'GB/s':>7}{'roof GF/s':>10}"
            f"{'pred ' + unit:>9}{'eff':>6}  bound"]
    rows = sorted(ex.rows, key=lambda r: -r.measured_ms)[:ROWS]
    return head + [_row(r, scale) for r in rows] + (
        [f"  ... {len(ex.rows) - ROWS} more in the JSON"] if len(ex.rows) > ROWS else [])


def _row(r: RooflineRow, scale: float = 1.0) -> str:
    w = r.work
    shape = "x".join(map(str, w.shape)) or "scalar"
    return (f"  {w.label:<6}{_clean(w.op)[:25]:<26}{shape[:17]:<18}{r.measured_ms * scale:9.3f}"
            f"{r.share_pct:6.1f}%{format_flops(w.flops):>13}{format_nbytes(w.moved_nbytes):>11}"
            f"{format_nbytes(r.far_nbytes) if r.far_nbytes else '-':>10}"
            f"{w.intensity_flops_per_byte:8.2f}{r.achieved_flops_per_s / 1e9:9.2f}"
            f"{r.achieved_bytes_per_s / 1e9:7.1f}{r.roof_flops_per_s / 1e9:10.1f}"
            f"{r.predicted_ms * scale:9.3f}{r.efficiency_ratio:6.0%}  {r.bound}")


def _clean(text: str) -> str:
    """A model's or file's string, printable only (no injected lines or terminal escapes)."""
    return "".join(c if c.isprintable() else "?" for c in str(text))
