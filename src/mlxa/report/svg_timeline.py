"""The memory timeline as SVG, from a run's plan alone: the arena over the steps, one rectangle
per planned buffer (x: its lifetime [start, end), y: its offset and size) coloured by the op that
allocates it, the bytes alive at each step as a line, and the lower bound and arena as rules."""

from __future__ import annotations

from collections.abc import Callable

from mlxa.report.svg import byte_ticks, color_for, esc, svg_open, ticks
from mlxa.result import PlanSummary
from mlxa.units import format_nbytes

W, H, LEFT, RIGHT, TOP, BOTTOM = 900, 380, 74, 150, 16, 36


def live_nbytes(plan: PlanSummary) -> list[int]:
    """Bytes of planned buffers alive at each step (no alignment): the curve under the plan."""
    steps = max((b.end_index for b in plan.buffers), default=0)
    live = [0] * steps
    for b in plan.buffers:
        for s in range(b.start_index, b.end_index):
            live[s] += b.size_nbytes
    return live


def timeline_svg(plan: PlanSummary) -> str:
    steps = max((b.end_index for b in plan.buffers), default=1) or 1
    top_nbytes = max(plan.arena_nbytes, plan.lower_bound_nbytes, 1)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(step: float) -> float:
        return LEFT + pw * step / steps

    def y(nbytes: float) -> float:
        return TOP + ph * (1 - nbytes / top_nbytes)

    parts = [svg_open(W, H, "memory timeline"), _axes(steps, top_nbytes, x, y)]
    for i, b in enumerate(plan.buffers):
        tip = (f"buffer {i}: {b.kind}, {format_nbytes(b.size_nbytes)} at offset "
               f"{b.offset_nbytes:,} B, live [{b.start_index},{b.end_index})")
        y0, y1 = y(b.offset_nbytes + b.size_nbytes), y(b.offset_nbytes)
        parts.append(f'<rect x="{x(b.start_index):.1f}" y="{y0:.1f}" '
                     f'width="{max(x(b.end_index) - x(b.start_index), 0.8):.1f}" '
                     f'height="{max(y1 - y0, 0.8):.1f}" fill="{color_for(b.kind)}" '
                     f'fill-opacity="0.7" stroke="#222" stroke-width="0.3">'
                     f'<title>{esc(tip)}</title></rect>')
    live = live_nbytes(plan)
    points = " ".join(f"{x(s):.1f},{y(n):.1f} {x(s + 1):.1f},{y(n):.1f}"
                      for s, n in enumerate(live))
    parts.append(f'<polyline class="live" points="{points}" fill="none" stroke="#111" '
                 f'stroke-width="1.3"><title>bytes alive at each step</title></polyline>')
    label_y = y(plan.arena_nbytes) - 2  # the bound's label below the arena's, never on it
    for label, n, dash in (("arena", plan.arena_nbytes, ""),
                           ("lower bound", plan.lower_bound_nbytes, ' stroke-dasharray="5 4"')):
        label_y = max(y(n) + 4, label_y + 13)
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(n):.1f}" y2="{y(n):.1f}" '
                     f'stroke="#c22" stroke-width="1.2"{dash}/>'
                     f'<text x="{W - RIGHT + 6}" y="{label_y:.1f}" font-size="11" fill="#c22">'
                     f'{label} {esc(format_nbytes(n))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _axes(steps: int, top_nbytes: int, fx: Callable[[float], float],
          fy: Callable[[float], float]) -> str:
    out = [f'<g font-size="10.5" fill="#445" stroke="#ccd"><rect x="{LEFT}" y="{TOP}" '
           f'width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" fill="#fafbfc"/>']
    for t in ticks(steps, 10):
        if t == int(t):
            out.append(f'<line x1="{fx(t):.1f}" x2="{fx(t):.1f}" y1="{TOP}" y2="{H - BOTTOM}"/>'
                       f'<text x="{fx(t):.1f}" y="{H - BOTTOM + 14}" stroke="none" '
                       f'text-anchor="middle">{int(t)}</text>')
    for t in byte_ticks(top_nbytes, 6):
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{fy(t):.1f}" y2="{fy(t):.1f}"/>'
                   f'<text x="{LEFT - 6}" y="{fy(t) + 4:.1f}" stroke="none" text-anchor="end">'
                   f'{esc(format_nbytes(t))}</text>')
    out.append(f'<text x="{LEFT + (W - LEFT - RIGHT) / 2}" y="{H - 4}" stroke="none" '
               f'text-anchor="middle">step (node of the compiled graph)</text></g>')
    return "".join(out)
