"""The range of values the planners compute with exactly, and the one check that keeps to it.

The fast planners (iterated.py, exact.py, cpsat.py) hold steps, sizes and offsets in numpy int64.
No planner puts a buffer's top above the aligned bytes of all buffers side by side (no_reuse's
arena), so an instance whose steps fit int64 and whose aligned sizes add up to at most 2^62 is
planned without overflow, with headroom for the sum of two such values. Anything larger is
refused with one message rather than planned in wrapped arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlxa.planners.contract import Buffer, align_up

MAX_TOTAL_NBYTES = 1 << 62
MAX_STEP = (1 << 63) - 1


def range_problem(buffers: Sequence[Buffer], alignment: int) -> str | None:
    """Why `buffers` cannot be planned exactly in int64, or None when they can. O(n)."""
    if not 1 <= alignment <= MAX_TOTAL_NBYTES:
        return f"alignment {alignment} is outside 1 .. 2^62"
    total = 0
    for b in buffers:
        if not 0 <= b.start < b.end <= MAX_STEP:
            return f"buffer {b.id}: steps [{b.start}, {b.end}) are outside 0 .. 2^63 - 1"
        if b.nbytes < 0:
            return f"buffer {b.id}: negative size {b.nbytes}"
        total += align_up(b.nbytes, alignment)
    if total > MAX_TOTAL_NBYTES:
        return (f"the buffers' sizes (aligned to {alignment}) add up to {total:,} bytes; "
                "planning is exact only up to 2^62 bytes")
    return None


def check_range(buffers: Sequence[Buffer], alignment: int) -> None:
    """ValueError naming the first value out of range (see range_problem)."""
    problem = range_problem(buffers, alignment)
    if problem is not None:
        raise ValueError(problem)
