"""The memory timeline of a run's compiled plan, drawn from the run's data: the planned buffers
(intermediates and each op's scratch) with their offsets, each coloured by the op that allocates
it. A saved run can be drawn again."""

from __future__ import annotations

from mlxa.planners.contract import Buffer, Plan
from mlxa.result import PlanSummary


def timeline_png(plan: PlanSummary, title: str = "") -> bytes:
    """The PNG of a run's plan (UserInputError without matplotlib)."""
    from mlxa.report import timeline_plot

    buffers = [Buffer(i, r.start_index, r.end_index, r.size_nbytes)
               for i, r in enumerate(plan.buffers)]
    offsets = tuple(r.offset_nbytes for r in plan.buffers)
    return timeline_plot.timeline_png(buffers,
                                      Plan(offsets, plan.arena_nbytes, plan.winning_strategy),
                                      [r.kind for r in plan.buffers], title)
