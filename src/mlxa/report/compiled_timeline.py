"""The memory timeline of a run's compiled plan, drawn from the run's data: the planned buffers
(intermediates and each op's scratch) with their offsets, each coloured by the op that allocates
it. A saved run can be drawn again."""

from __future__ import annotations

import os
from typing import Any

from mlxa.planners.contract import Buffer, Plan


def write_timeline(plan: dict[str, Any], path: str | os.PathLike[str], title: str = "") -> None:
    """`plan` is a run's optimized plan summary (session.plan_summary); the PNG is written
    atomically (UserInputError without matplotlib)."""
    from mlxa.report.timeline_plot import render_timeline_png

    rows = plan["buffers"]
    buffers = [Buffer(i, r["start_index"], r["end_index"], r["size_nbytes"])
               for i, r in enumerate(rows)]
    offsets = tuple(r["offset_nbytes"] for r in rows)
    render_timeline_png(buffers, Plan(offsets, plan["arena_nbytes"], plan["winning_strategy"]),
                        path, [r["kind"] for r in rows], title)
