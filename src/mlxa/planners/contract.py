"""The one contract every offset planner follows, and the one validator every plan must pass.

A planning instance is a list of buffers, each alive over a half-open step interval and of a size
in bytes. A plan gives each buffer a byte offset in one arena so that no two buffers alive at the
same step overlap. The figure of merit is the arena size; no plan can beat `lower_bound`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


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

# Every buffer mlxa places (arena buffers, op scratch pieces) starts on a 64-byte boundary: a
# cache line, and the widest SIMD load (AVX-512).
ALIGNMENT = 64


def align_up(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment if alignment > 1 else n


def lower_bound(buffers: Sequence[Buffer], alignment: int = 1) -> int:
    """The most bytes alive at one step (sizes rounded up to `alignment`). O(n log n) sweep: in
    numpy while every live total fits int64 (sizes adding up to at most 2^62), else in Python
    ints (the same sweep, some ten times slower)."""
    sizes = [align_up(b.nbytes, alignment) for b in buffers]
    if sum(sizes) <= 1 << 62 and all(0 <= b.start < b.end < 1 << 63 for b in buffers):
        return _lower_bound_int64(buffers, sizes)
    events: list[tuple[int, int]] = []
    for b, size in zip(buffers, sizes):
        events.append((b.start, size))
        events.append((b.end, -size))
    events.sort()  # at equal steps the frees (negative) come first: intervals are half-open
    live = best = 0
    for _, delta in events:
        live += delta
        best = max(best, live)
    return best


def _lower_bound_int64(buffers: Sequence[Buffer], sizes: list[int]) -> int:
    n = len(buffers)
    steps = np.concatenate([np.fromiter((b.start for b in buffers), np.int64, n),
                            np.fromiter((b.end for b in buffers), np.int64, n)])
    size = np.array(sizes, np.int64)
    deltas = np.concatenate([size, -size])
    live = np.cumsum(deltas[np.lexsort((deltas, steps))])  # frees first at equal steps
    return max(0, int(live.max())) if n else 0


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
    offs: list[int] = []
    tops: list[int] = []
    owner: list[int] = []
    for starting, i in _events(buffers):
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


def _events(buffers: Sequence[Buffer]) -> list[tuple[int, int]]:
    """(starting, index) of the buffers of positive size, by step, ends before starts at equal
    steps, then by index. Sorted by numpy when the steps fit int64, else in Python."""
    keep = [i for i, b in enumerate(buffers) if b.nbytes]
    if all(0 <= buffers[i].start < buffers[i].end < 1 << 63 for i in keep):
        index = np.array(keep + keep, np.int64)
        starting = np.repeat(np.array([1, 0], np.int64), len(keep))
        steps = np.fromiter((buffers[i].start for i in keep), np.int64, len(keep))
        steps = np.concatenate([steps, np.fromiter((buffers[i].end for i in keep), np.int64,
                                                   len(keep))])
        order = np.lexsort((index, starting, steps))
        return list(zip(starting[order].tolist(), index[order].tolist()))
    events = [(buffers[i].start, 1, i) for i in keep] + [(buffers[i].end, 0, i) for i in keep]
    events.sort()
    return [(starting, i) for _, starting, i in events]
