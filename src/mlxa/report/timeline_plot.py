"""The memory timeline picture: where each buffer sits in the arena over time.

Step on x, arena offset on y, one rectangle per buffer ([start, end) x [offset, offset + size)),
coloured by an optional per-buffer kind (e.g. the op that made it); the bytes alive at each step
(whose maximum is the lower bound) as a step curve, and the lower bound and arena size as lines.
White space under the arena line and above the curve is fragmentation. Written atomically as PNG.
matplotlib is imported here only (Agg backend, no display needed); drawing is one collection, so
tens of thousands of buffers take about a second.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np

from mlxa.atomic import write_bytes
from mlxa.errors import UserInputError
from mlxa.planners.contract import Buffer, Plan, lower_bound

_UNITS = ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"), (1, "B"))
_MAX_LEGEND = 12


def render_timeline_png(buffers: Sequence[Buffer], plan: Plan, path: str | os.PathLike[str],
                        kinds: Sequence[str] | None = None, title: str = "") -> None:
    """Draw `plan` for `buffers` into the PNG file `path` (UserInputError if it cannot)."""
    write_bytes(path, timeline_png(buffers, plan, kinds, title))


def timeline_png(buffers: Sequence[Buffer], plan: Plan, kinds: Sequence[str] | None = None,
                 title: str = "") -> bytes:
    """The PNG bytes of `plan` drawn for `buffers` (UserInputError without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
        from matplotlib.collections import PolyCollection
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise UserInputError("plots need matplotlib (pip install 'mlxa[plots]')") from None
    if kinds is not None and len(kinds) != len(buffers):
        raise ValueError(f"{len(kinds)} kinds for {len(buffers)} buffers")
    scale, unit = _unit(plan.arena_nbytes)
    fig, ax = plt.subplots(figsize=(11, 5.5), dpi=110)
    try:
        labels = sorted(set(kinds)) if kinds is not None else []
        colours = _colours(plt, len(labels))
        index = {k: i for i, k in enumerate(labels)}
        face = [colours[index[k]] for k in kinds] if kinds is not None else "tab:blue"
        ax.add_collection(PolyCollection(list(_boxes(buffers, plan, scale)), facecolors=face,
                                         edgecolors="black", alpha=0.85,
                                         linewidths=0.2 if len(buffers) <= 2000 else 0.0))
        steps, live = _live_curve(buffers)
        ax.step(steps, live / scale, where="post", color="black", lw=1.0, label="bytes alive")
        bound = lower_bound(buffers)
        ax.axhline(bound / scale, color="tab:red", ls="--", lw=1.0,
                   label=f"lower bound {bound / scale:.4g} {unit}")
        ax.axhline(plan.arena_nbytes / scale, color="tab:green", ls=":", lw=1.2,
                   label=f"arena {plan.arena_nbytes / scale:.4g} {unit} ({plan.strategy})")
        for label in labels[:_MAX_LEGEND]:
            ax.plot([], [], "s", color=colours[index[label]], label=label)
        ax.set_xlim(min((b.start for b in buffers), default=0),
                    max((b.end for b in buffers), default=1))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole: no 0.5 ticks
        ax.set_ylim(0, max(plan.arena_nbytes, bound, 1) / scale * 1.05)
        ax.set_xlabel("step")
        ax.set_ylabel(f"arena offset ({unit})")
        ax.set_title(title or f"memory plan: {len(buffers)} buffers")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        fig.tight_layout()
        data = io.BytesIO()
        fig.savefig(data, format="png")
    finally:
        plt.close(fig)
    return data.getvalue()


def _unit(nbytes: int) -> tuple[int, str]:
    return next((s, u) for s, u in _UNITS if nbytes >= s or s == 1)


def _boxes(buffers: Sequence[Buffer], plan: Plan, scale: int) -> np.ndarray:
    """One quadrilateral (4 x 2 vertices) per buffer."""
    x0 = np.array([b.start for b in buffers], float)
    x1 = np.array([b.end for b in buffers], float)
    y0 = np.array(plan.offsets, float) / scale
    y1 = y0 + np.array([b.nbytes for b in buffers], float) / scale
    return np.stack([np.stack([x0, y0], 1), np.stack([x1, y0], 1),
                     np.stack([x1, y1], 1), np.stack([x0, y1], 1)], 1)


def _live_curve(buffers: Sequence[Buffer]) -> tuple[np.ndarray, np.ndarray]:
    """Bytes alive from each event step on (a step function, half-open lifetimes)."""
    if not buffers:
        return np.zeros(1), np.zeros(1)
    steps = np.array([b.start for b in buffers] + [b.end for b in buffers])
    delta = np.array([b.nbytes for b in buffers] + [-b.nbytes for b in buffers], float)
    uniq, where = np.unique(steps, return_inverse=True)
    return uniq, np.cumsum(np.bincount(where, weights=delta, minlength=uniq.size))


def _colours(plt: object, count: int) -> list[tuple[float, ...]]:
    cmap = plt.get_cmap("tab20" if count > 10 else "tab10")  # type: ignore[attr-defined]
    return [cmap(i % cmap.N) for i in range(max(count, 1))]
