"""SVG primitives shared by the HTML report's figures: escaping, a stable colour per op, ticks.

Every string that reaches a figure goes through `esc` (model and node names come from files a
user did not write); colours are chosen from a fixed palette by a hash of the op name, so no
string from a model ever lands inside an attribute unescaped.
"""

from __future__ import annotations

import html
import math
import zlib

PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#eeca3b",
           "#9d755d", "#ff9da6", "#79706e", "#2f8f9d", "#8c6bb1")
FAMILY = {"matmul": 0, "gemm": 0, "conv": 0, "fused": 1, "relu": 2, "add": 2, "mul": 2,
          "gelu": 2, "max_pool": 3, "avg_pool": 3, "global_avg_pool": 3, "softmax": 4,
          "layer_norm": 4, "batch_norm": 4, "reshape": 9, "flatten": 9, "transpose": 5}


def esc(text: object) -> str:
    """Text safe inside an element or a quoted attribute."""
    return html.escape(str(text), quote=True)


def color_for(op: str) -> str:
    """A colour per op: the families above, else a stable hash of the name into the palette;
    an op's scratch ("conv scratch") in another colour than its outputs."""
    base = op.split(" ")[0]
    index = FAMILY.get(base, zlib.crc32(base.encode()) % len(PALETTE))
    return PALETTE[(index + 7) % len(PALETTE) if op.endswith(" scratch") else index]


def ticks(high: float, count: int = 6) -> list[float]:
    """Round tick values from 0 to `high` (inclusive of the last below it)."""
    if high <= 0:
        return [0.0]
    raw = high / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    return [i * step for i in range(int(high // step) + 1)]


def byte_ticks(high: float, count: int = 6) -> list[float]:
    """Ticks over bytes in whole binary units: 0, 2, 4, 6 MiB rather than 0, 1.9, 3.8 MiB."""
    unit = next((u for u in (1 << 40, 1 << 30, 1 << 20, 1 << 10) if high >= 2 * u), 1)
    return [t * unit for t in ticks(high / unit, count)]


def svg_open(width: float, height: float, label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'role="img" aria-label="{esc(label)}" font-family="system-ui,sans-serif">')
