"""The one contract every offset planner follows, and the one validator every plan must pass.

A planning instance is a list of buffers, each alive over a half-open step interval and of a size
in bytes. A plan gives each buffer a byte offset in one arena so that no two buffers alive at the
same step overlap. The figure of merit is the arena size; no plan can beat `lower_bound`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Buffer:
    """One allocation request. Invariant: 0 <= start < end (steps, end exclusive); nbytes >= 0."""

    id: int
    start: int
    end: int
    nbytes: int

    def overlaps(self, other: Buffer) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class Plan:
    """Offsets in the order of the buffers given to the planner, and the arena that holds them."""

    offsets: tuple[int, ...]
    arena_nbytes: int
    strategy: str


class PlanError(ValueError):
    """A plan broke the contract: the message names the buffers involved."""


Planner = Callable[[Sequence[Buffer], int], Plan]


def align_up(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment if alignment > 1 else n


def lower_bound(buffers: Sequence[Buffer], alignment: int = 1) -> int:
    """The most bytes alive at one step (sizes rounded up to `alignment`). O(n log n) sweep."""
    events: list[tuple[int, int]] = []
    for b in buffers:
        size = align_up(b.nbytes, alignment)
        events.append((b.start, size))
        events.append((b.end, -size))
    events.sort()  # at equal steps the frees (negative) come first: intervals are half-open
    live = best = 0
    for _, delta in events:
        live += delta
        best = max(best, live)
    return best


def arena_size(buffers: Sequence[Buffer], offsets: Sequence[int], alignment: int = 1) -> int:
    return max((o + align_up(b.nbytes, alignment) for b, o in zip(buffers, offsets)), default=0)


def validate(buffers: Sequence[Buffer], plan: Plan, alignment: int = 1) -> None:
    """Raise PlanError unless the plan is valid: one offset per buffer, offsets aligned and
    non-negative, every buffer inside the arena, and no two buffers that are alive at the same step
    sharing a byte. O(n log n): a sweep over steps keeps the live buffers sorted by offset; while
    they are disjoint their tops are sorted too, so a starting buffer need only be compared with
    its two neighbours (bisection). At equal steps ends come first (lifetimes are half-open)."""
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
    _check_no_overlap(buffers, plan.offsets)


def _check_no_overlap(buffers: Sequence[Buffer], offsets: Sequence[int]) -> None:
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
