"""Greedy offset planners: place buffers one at a time, in some order, into the lowest (first fit)
or tightest (best fit) gap left by the already-placed buffers whose lifetimes overlap.

These are the planners real compilers ship: first fit in program order (onnx-tool, tinygrad),
greedy by size with best fit (TFLite's ArenaPlanner), greedy by lifetime (one of XLA's orders).
Each is O(n^2) in the worst case (every placed buffer overlaps); fine up to some thousands.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlxa.planners.contract import Buffer, Plan, align_up


def place(buffers: Sequence[Buffer], order: Sequence[int], alignment: int, best_fit: bool,
          strategy: str) -> Plan:
    """Place buffers in `order`; each goes into a gap among the placed buffers alive with it."""
    offsets = [0] * len(buffers)
    placed: list[int] = []
    for i in order:
        b = buffers[i]
        size = align_up(b.nbytes, alignment)
        busy = sorted((offsets[j], offsets[j] + align_up(buffers[j].nbytes, alignment))
                      for j in placed if buffers[j].overlaps(b) and buffers[j].nbytes)
        offsets[i] = _choose_gap(busy, size, alignment, best_fit)
        placed.append(i)
    arena = max((offsets[i] + align_up(b.nbytes, alignment) for i, b in enumerate(buffers)),
                default=0)
    return Plan(tuple(offsets), arena, strategy)


def _choose_gap(busy: list[tuple[int, int]], size: int, alignment: int, best_fit: bool) -> int:
    """Lowest (first fit) or smallest (best fit) free gap of at least `size`; else the top."""
    best_offset, best_gap = -1, -1
    cursor = 0
    for lo, hi in busy:
        gap = lo - cursor
        if gap >= size:
            if not best_fit:
                return cursor
            if best_gap < 0 or gap < best_gap:
                best_offset, best_gap = cursor, gap
        cursor = max(cursor, align_up(hi, alignment))
    return best_offset if best_offset >= 0 else cursor


def no_reuse(buffers: Sequence[Buffer], alignment: int = 1) -> Plan:
    """Every buffer its own bytes, as an eager runtime without a caching allocator would need."""
    offsets, top = [], 0
    for b in buffers:
        offsets.append(top)
        top += align_up(b.nbytes, alignment)
    return Plan(tuple(offsets), top, "no_reuse")


def first_fit(buffers: Sequence[Buffer], alignment: int = 1) -> Plan:
    """Program order (by start step), lowest gap that fits."""
    order = sorted(range(len(buffers)), key=lambda i: (buffers[i].start, i))
    return place(buffers, order, alignment, best_fit=False, strategy="first_fit")


def greedy_by_size(buffers: Sequence[Buffer], alignment: int = 1) -> Plan:
    """Largest first, tightest gap that fits (ties: earlier start)."""
    order = sorted(range(len(buffers)),
                   key=lambda i: (-buffers[i].nbytes, buffers[i].start, i))
    return place(buffers, order, alignment, best_fit=True, strategy="greedy_by_size")


def greedy_by_lifetime(buffers: Sequence[Buffer], alignment: int = 1) -> Plan:
    """Longest-lived first (ties: larger first), tightest gap that fits."""
    order = sorted(range(len(buffers)),
                   key=lambda i: (-(buffers[i].end - buffers[i].start), -buffers[i].nbytes, i))
    return place(buffers, order, alignment, best_fit=True, strategy="greedy_by_lifetime")
