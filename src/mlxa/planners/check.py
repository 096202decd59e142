"""A fast plan check for large instances: the same verdict as contract.validate, in O(n log n).

Sweep over steps with the live buffers kept sorted by offset. Valid so far means the live
buffers are disjoint, so their tops are sorted too; a starting buffer [o, t) then only needs
comparing with its two neighbours in that order (bisection), and an ending buffer is found by
its offset (distinct among live buffers of positive size). At equal steps ends come first
(lifetimes are half-open). contract.validate rescans the live set per buffer, O(n * live).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from mlxa.planners.contract import Buffer, Plan, PlanError, lower_bound


def check_plan(buffers: Sequence[Buffer], plan: Plan, alignment: int = 1) -> None:
    """Raise PlanError (naming the buffers) unless `plan` is valid for `buffers`."""
    if len(plan.offsets) != len(buffers):
        raise PlanError(f"{len(plan.offsets)} offsets for {len(buffers)} buffers")
    for b, off in zip(buffers, plan.offsets):
        if off < 0 or off % alignment:
            raise PlanError(f"buffer {b.id}: offset {off} is negative or not {alignment}-aligned")
        if off + b.nbytes > plan.arena_nbytes:
            raise PlanError(f"buffer {b.id}: [{off}, {off + b.nbytes}) outside arena "
                            f"of {plan.arena_nbytes} bytes")
    if plan.arena_nbytes < lower_bound(buffers, 1):
        raise PlanError(f"arena {plan.arena_nbytes} below the lower bound")
    _sweep(buffers, plan.offsets)


def _sweep(buffers: Sequence[Buffer], offsets: Sequence[int]) -> None:
    events = []
    for i, b in enumerate(buffers):
        if b.nbytes:
            events.append((b.start, 1, i))
            events.append((b.end, 0, i))
    events.sort()
    offs: list[int] = []
    tops: list[int] = []
    owner: list[int] = []
    for _, starting, i in events:
        lo = offsets[i]
        if not starting:
            k = bisect.bisect_left(offs, lo)
            del offs[k], tops[k], owner[k]
            continue
        hi = lo + buffers[i].nbytes
        k = bisect.bisect_right(offs, lo)
        clash = -1
        if k and tops[k - 1] > lo:
            clash = owner[k - 1]
        elif k < len(offs) and offs[k] < hi:
            clash = owner[k]
        if clash >= 0:
            raise PlanError(f"buffers {buffers[clash].id} and {buffers[i].id} are alive together "
                            f"and share bytes at offsets {offsets[clash]} and {lo}")
        offs.insert(k, lo)
        tops.insert(k, hi)
        owner.insert(k, i)
