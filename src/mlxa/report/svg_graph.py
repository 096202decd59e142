"""The compiled graph as a picture: one box per node in program order, top to bottom, edges from
producer to consumer, fused groups coloured and labelled with their chain; beside it, aligned
with the steps, the arena: each node's output as a bar at its offset, spanning its lifetime.

Layout (a git-log-like lane assignment, O(nodes x lanes)): a node takes its first producer's lane
when that value dies at it (its last consumer), else the lowest lane no pending value still
flows down. So a chain stays in one lane, a residual branch steps aside and rejoins.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlxa.report.svg import color_for, esc, svg_open
from mlxa.result import CompiledNode
from mlxa.units import format_nbytes

BOX_W, BOX_H, LANE_W, ROW_H, TOP = 250, 32, 270, 44, 30
ARENA_W, OUT_W, GAP = 260, 40, 40


def lanes(nodes: Sequence[CompiledNode]) -> list[int]:
    last_use = {n.index: n.index for n in nodes}
    for n in nodes:
        for p in n.producer_index:
            last_use[p] = max(last_use.get(p, p), n.index)
    lane_of: dict[int, int] = {}
    busy_until: list[int] = []  # per lane: the step the value flowing down it is last used
    for n in nodes:
        free = [k for k, until in enumerate(busy_until) if until <= n.index]
        mine = [lane_of[p] for p in n.producer_index if p in lane_of and lane_of[p] in free]
        lane = min(mine) if mine else (free[0] if free else len(busy_until))
        if lane == len(busy_until):
            busy_until.append(0)
        busy_until[lane] = last_use[n.index]
        lane_of[n.index] = lane
    return [lane_of[n.index] for n in nodes]


def graph_svg(nodes: Sequence[CompiledNode], arena_nbytes: int) -> str:
    lane = lanes(nodes)
    width_lanes = (max(lane, default=0) + 1) * LANE_W
    x_arena = width_lanes + GAP
    width = x_arena + ARENA_W + GAP / 2 + OUT_W + 10
    height = TOP + len(nodes) * ROW_H + 10
    parts = [svg_open(width, height, "compiled graph"), _headings(x_arena)]
    parts += _edges(nodes, lane)
    parts += _arena(nodes, x_arena, max(arena_nbytes, 1))
    parts += [_box(n, k) for n, k in zip(nodes, lane)]
    parts.append("</svg>")
    return "".join(parts)


def _headings(x_arena: float) -> str:
    return (f'<text x="4" y="16" font-size="13" font-weight="600">nodes in program order</text>'
            f'<text x="{x_arena}" y="16" font-size="13" font-weight="600">arena offset '
            f'(0 left) over the steps</text>'
            f'<text x="{x_arena + ARENA_W + GAP / 2}" y="16" font-size="13" '
            f'font-weight="600">out</text>')


def _center(index: int, lane: int) -> tuple[float, float]:
    return lane * LANE_W + BOX_W / 2 + 4, TOP + index * ROW_H


def _edges(nodes: Sequence[CompiledNode], lane: list[int]) -> list[str]:
    lane_of = {n.index: k for n, k in zip(nodes, lane)}
    out = ['<g fill="none" stroke="#8a94a6" stroke-width="1.4">']
    for n, k in zip(nodes, lane):
        x1, y1 = _center(n.index, k)
        for p in n.producer_index:
            if p not in lane_of:
                continue
            x0, y0 = _center(p, lane_of[p])
            # down the producer's lane (free until its value's last use), then across in the
            # gap just above the consumer's row, where no box is
            turn = y1 - (ROW_H - BOX_H)
            out.append(f'<path d="M{x0:.0f},{y0 + BOX_H:.0f} L{x0:.0f},{turn:.0f} '
                       f'C{x0:.0f},{y1:.0f} {x1:.0f},{turn:.0f} {x1:.0f},{y1:.0f}"/>')
    out.append("</g>")
    return out


def _label(n: CompiledNode) -> str:
    return n.chain.replace(">", " > ") if n.op == "fused" else n.op


def _box(n: CompiledNode, lane: int) -> str:
    x, y = lane * LANE_W + 4, TOP + n.index * ROW_H
    color = color_for(n.op)
    where = "out" if n.offset_nbytes is None else f"@{format_nbytes(n.offset_nbytes)}"
    share = " in place" if n.shares_input else ""
    shape = "x".join(map(str, n.shape))
    tip = (f"%{n.index} {n.name or n.op}: {_label(n)} -> f[{shape}] {format_nbytes(n.size_nbytes)}"
           f", live [{n.start_index},{n.end_index}), {where}{share}")
    fused = ' stroke="#b85c00" stroke-width="2.2"' if n.op == "fused" else ' stroke="#5a6272"'
    return (f'<g class="node"><title>{esc(tip)}</title>'
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="5" fill="#fff"/>'
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="5" '
            f'fill="{color}" fill-opacity="0.18"{fused}/>'
            f'<rect x="{x}" y="{y}" width="6" height="{BOX_H}" fill="{color}"/>'
            f'<text x="{x + 11}" y="{y + 13}" font-size="11.5" font-weight="600">'
            f'%{n.index} {esc(_label(n)[:30])}</text>'
            f'<text x="{x + 11}" y="{y + 26}" font-size="10.5" fill="#445">{esc(shape[:22])} '
            f'{esc(format_nbytes(n.size_nbytes))} {esc(where)}{share}</text></g>')


def _arena(nodes: Sequence[CompiledNode], x0: float, arena: int) -> list[str]:
    """Each output as a bar at x = its offset, over rows [start, end): its life in the arena."""
    out = [f'<rect x="{x0}" y="{TOP - 4}" width="{ARENA_W}" height="{len(nodes) * ROW_H}" '
           f'fill="#f6f7f9" stroke="#dde1e8"/>']
    x_out = x0 + ARENA_W + GAP / 2
    for n in nodes:
        y0 = TOP + n.start_index * ROW_H
        h = max((n.end_index - n.start_index) * ROW_H - 6, 4)
        if n.offset_nbytes is None:
            x, w = x_out, float(OUT_W)
        else:
            x = x0 + ARENA_W * n.offset_nbytes / arena
            w = max(ARENA_W * n.size_nbytes / arena, 1.5)
        tip = (f"%{n.index} {n.op}: {format_nbytes(n.size_nbytes)} live "
               f"[{n.start_index},{n.end_index})")
        out.append(f'<rect x="{x:.1f}" y="{y0}" width="{w:.1f}" height="{h}" '
                   f'fill="{color_for(n.op)}" fill-opacity="0.55" stroke="#333" '
                   f'stroke-width="0.4"><title>{esc(tip)}</title></rect>')
    return out
