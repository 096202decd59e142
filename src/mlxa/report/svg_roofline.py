"""The roofline figure: achieved GFLOP/s against arithmetic intensity (FLOPs per byte moved),
log-log, one point per timed node (area: its share of the executor's time), eager and compiled
in two colours; the machine's ceilings drawn when the caller has them.

The points come from a run's per-op timings (`--per-op`) and the op table's FLOPs and bytes; the
ceilings (peak FLOP/s, bandwidth per memory level) are optional data measured elsewhere
(`mlxa machine`), so the figure takes them as a plain `Ceilings` value or a JSON mapping.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlxa.report.svg import esc, svg_open
from mlxa.result import RunResult

W, H, LEFT, RIGHT, TOP, BOTTOM = 760, 420, 70, 130, 14, 40
COLORS = {"baseline": "#e45756", "optimized": "#2a9d4b"}


@dataclass(frozen=True)
class Ceilings:
    """The machine's roofs: peak FLOP/s and a bandwidth per memory level, and how measured."""

    peak_flops_per_s: float | None = None
    bandwidth_bytes_per_s: tuple[tuple[str, float], ...] = ()
    how: str = ""

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Ceilings:
        bw = data.get("bandwidth_bytes_per_s") or {}
        pairs = bw.items() if isinstance(bw, Mapping) else bw
        return Ceilings(_positive(data.get("peak_flops_per_s")),
                        tuple((str(k), float(v)) for k, v in pairs if _positive(v)),
                        str(data.get("how", "")))


def _positive(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) and v > 0 else None


@dataclass(frozen=True)
class Point:
    executor: str
    label: str
    flops: int
    moved_nbytes: int
    time_ms: float
    share_pct: float

    @property
    def intensity(self) -> float:
        return self.flops / self.moved_nbytes

    @property
    def flops_per_s(self) -> float:
        return self.flops / (self.time_ms / 1e3)


def points(run: RunResult) -> list[Point]:
    """Timed nodes with work, bytes and a positive time (the others have no place on log axes)."""
    out = []
    for key, part in (("baseline", run.baseline), ("optimized", run.optimized)):
        if part is None or part.per_op is None:
            continue
        for n in part.per_op.nodes:
            if n.flops > 0 and n.moved_nbytes > 0 and n.median_ms > 0:
                label = n.name if n.op == "fused" else n.op
                out.append(Point(key, f"%{n.index} {label}", n.flops, n.moved_nbytes,
                                 n.median_ms, n.share_pct))
    return out


def _decades(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    return float(lo), float(max(hi, lo + 1))


def roofline_svg(pts: Sequence[Point], ceilings: Ceilings | None = None) -> str:
    c = ceilings or Ceilings()
    xs = [p.intensity for p in pts] or [0.1, 100.0]
    ys = [p.flops_per_s / 1e9 for p in pts] or [0.1, 100.0]
    if c.peak_flops_per_s:
        ys.append(c.peak_flops_per_s / 1e9)
    (x0, x1), (y0, y1) = _decades(xs), _decades(ys)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(v: float) -> float:
        return LEFT + pw * (math.log10(v) - x0) / (x1 - x0)

    def y(v: float) -> float:
        return TOP + ph * (1 - (math.log10(v) - y0) / (y1 - y0))

    parts = [svg_open(W, H, "roofline"), _grid(x0, x1, y0, y1, x, y)]
    parts += _roofs(c, 10 ** x0, 10 ** x1, 10 ** y0, x, y)
    for p in sorted(pts, key=lambda p: -p.share_pct):
        r = 2 + 14 * math.sqrt(max(p.share_pct, 0) / 100)
        tip = (f"{p.executor} {p.label}: {p.flops_per_s / 1e9:.2f} GFLOP/s at "
               f"{p.intensity:.2f} FLOP/B, {p.time_ms:.4f} ms ({p.share_pct:.1f}%)")
        parts.append(f'<circle class="pt" cx="{x(p.intensity):.1f}" '
                     f'cy="{y(p.flops_per_s / 1e9):.1f}" r="{r:.1f}" '
                     f'fill="{COLORS.get(p.executor, "#777")}" fill-opacity="0.55" '
                     f'stroke="#222" stroke-width="0.5"><title>{esc(tip)}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def _grid(x0: float, x1: float, y0: float, y1: float, x: Any, y: Any) -> str:
    out = [f'<g font-size="10.5" fill="#445" stroke="#dde"><rect x="{LEFT}" y="{TOP}" '
           f'width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" fill="#fafbfc"/>']
    for e in range(int(x0), int(x1) + 1):
        out.append(f'<line x1="{x(10 ** e):.1f}" x2="{x(10 ** e):.1f}" y1="{TOP}" '
                   f'y2="{H - BOTTOM}"/><text x="{x(10 ** e):.1f}" y="{H - BOTTOM + 14}" '
                   f'stroke="none" text-anchor="middle">{_power(e)}</text>')
    for e in range(int(y0), int(y1) + 1):
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(10 ** e):.1f}" '
                   f'y2="{y(10 ** e):.1f}"/><text x="{LEFT - 6}" y="{y(10 ** e) + 4:.1f}" '
                   f'stroke="none" text-anchor="end">{_power(e)}</text>')
    out.append(f'<text x="{LEFT + (W - LEFT - RIGHT) / 2}" y="{H - 6}" stroke="none" '
               f'text-anchor="middle">arithmetic intensity (FLOP per byte moved)</text>'
               f'<text x="14" y="{TOP + (H - TOP - BOTTOM) / 2}" stroke="none" '
               f'text-anchor="middle" transform="rotate(-90 14 {TOP + (H - TOP - BOTTOM) / 2})">'
               f'GFLOP/s achieved</text></g>')
    return "".join(out)


def _power(e: int) -> str:
    """10^e as people write it: 0.01 .. 1000 plainly, else 10 with a superscript."""
    if -2 <= e <= 3:
        return f"{10.0 ** e:g}"
    return f'10<tspan dy="-5" font-size="8">{e}</tspan>'


def _roofs(c: Ceilings, ilo: float, ihi: float, gmin: float, x: Any, y: Any) -> list[str]:
    """Each bandwidth's slope up to the peak, and the peak's flat roof."""
    out = []
    peak = c.peak_flops_per_s / 1e9 if c.peak_flops_per_s else None
    for label, bw in c.bandwidth_bytes_per_s:
        gbs = bw / 1e9
        start = max(ilo, gmin / gbs)
        end = min(ihi, peak / gbs) if peak else ihi
        if end <= start:
            continue
        # labelled where the slope starts, apart from the others: at the ridges they overlap
        out.append(f'<line class="roof" x1="{x(start):.1f}" y1="{y(start * gbs):.1f}" '
                   f'x2="{x(end):.1f}" y2="{y(end * gbs):.1f}" stroke="#1d4f91" '
                   f'stroke-width="1.5"/><text x="{x(start) + 6:.1f}" y="{y(start * gbs) - 5:.1f}" '
                   f'font-size="10.5" fill="#1d4f91">{esc(label)} {gbs:.1f} GB/s</text>')
    if peak:
        out.append(f'<line class="roof" x1="{LEFT}" x2="{W - RIGHT}" y1="{y(peak):.1f}" '
                   f'y2="{y(peak):.1f}" stroke="#1d4f91" stroke-width="1.5"/>'
                   f'<text x="{W - RIGHT + 4}" y="{y(peak) + 4:.1f}" font-size="10.5" '
                   f'fill="#1d4f91">peak {peak:.1f} GFLOP/s</text>')
    return out
