"""Fast placement and iterated greedy for large instances.

`place_fast` is the greedy placement of greedy.py (each buffer, in a given order, goes into the
tightest or lowest gap left by the already placed buffers alive with it) with the per-buffer work
done by numpy: over the buffer's neighbour list (Arrays.neighbours: who is alive with whom,
built once in O(n log n + pairs)) where those lists are short, else over arrays of all the
placed buffers (O(n^2) comparisons in the worst case, as a few vectorised passes per buffer).
25,000 random buffers take 0.3 to 0.8 s a greedy plan with the lists, 1 to 3 s without. Every
placement can stop at a deadline (OutOfTime), so that a time limit holds at any size.

`iterated` improves on the best greedy plan by ruin and recreate: take a buffer that reaches the
arena's top and the buffers alive with it above a random floor (a slab, at most `max_ruin` of
them) out of the plan, put them back in a perturbed greedy order, keep the result if the cost
(arena, then bytes at the top) did not grow. It stops at the lower bound, the deadline, or when
it stalls. Invariant: the kept plan is always valid (every placement goes into a free gap).
Measured: random_20k goes from 1.0128x the bound (greedy) to 1.0 in under a second;
training_20k stays at greedy's 1.0043x; MiniMalloc's tight instances gain a few percent of their
30-40% (the exact planner's search closes those).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from mlxa.planners.contract import Buffer, Plan, lower_bound
from mlxa.planners.limits import check_range


class OutOfTime(Exception):
    """A placement reached its deadline before every buffer had its offset: `offsets` holds
    those placed so far, `rest` the buffers of the order not placed yet."""

    def __init__(self, offsets: np.ndarray, rest: list[int]) -> None:
        super().__init__(f"{len(rest)} buffers left unplaced")
        self.offsets, self.rest = offsets, rest


MAX_NEIGHBOUR_PAIRS = 16_000_000  # 64 MB of int32 pairs; above, placement scans instead
MAX_PAIRS_PER_BUFFER = 200  # denser lists save little over a scan of the placed buffers
NEIGHBOUR_S_PER_PAIR = 3e-7  # building the lists: measured 0.1 to 1.3 us a pair (busy machine)


@dataclass
class Arrays:
    """Buffers as columns: sizes in bytes and in units of the alignment."""

    start: np.ndarray
    end: np.ndarray
    nbytes: np.ndarray
    size: np.ndarray

    @cached_property
    def columns(self) -> tuple[list[int], list[int], list[int]]:
        """start, end and size as lists, for the per-buffer loops."""
        return self.start.tolist(), self.end.tolist(), self.size.tolist()

    def neighbour_lists(self, deadline: float | None = None
                        ) -> tuple[list[int], np.ndarray] | None:
        """`neighbours`, built only if that is expected to take at most half the time left
        before `deadline` (else None, and placement scans)."""
        if "neighbours" not in self.__dict__ and deadline is not None:
            left_s = deadline - time.monotonic()
            if 2 * self.pair_count * NEIGHBOUR_S_PER_PAIR > 0.5 * left_s:
                return None
        return self.neighbours

    @cached_property
    def pair_count(self) -> int:
        """Pairs of positive-size buffers alive together. O(n log n): each buffer counts the
        buffers that start before its end, less itself and those before it in start order."""
        start = np.sort(self.start[self.size > 0])
        last = np.searchsorted(start, self.end[self.size > 0], "left")
        return int(last.sum()) - start.size * (start.size + 1) // 2

    @cached_property
    def neighbours(self) -> tuple[list[int], np.ndarray] | None:
        """CSR lists (ptr, ind) of the positive-size buffers alive with each buffer, or None
        when they would hold more than MAX_NEIGHBOUR_PAIRS pairs, or MAX_PAIRS_PER_BUFFER a
        buffer on average (then a scan costs about as much). O(n log n + pairs): in start
        order, the buffers alive with p that start at or after it are the next ones up to the
        first that starts at p's end."""
        pos = np.flatnonzero(self.size > 0)
        order = pos[np.argsort(self.start[pos], kind="stable")]
        first = np.arange(order.size) + 1
        last = np.searchsorted(self.start[order], self.end[order], "left")
        count = np.maximum(last - first, 0)
        total = int(count.sum())
        if 2 * total > min(MAX_NEIGHBOUR_PAIRS, MAX_PAIRS_PER_BUFFER * self.size.size):
            return None
        order = order.astype(np.int32)
        rows = np.repeat(np.arange(order.size, dtype=np.int32), count)
        cols = rows + 1 + np.arange(total, dtype=np.int32) - np.repeat(
            (np.cumsum(count) - count).astype(np.int32), count)
        a, b = order[rows], order[cols]
        src, dst = np.concatenate([a, b]), np.concatenate([b, a])
        by_src = np.argsort(src)  # the order within a list does not matter to choose_gap
        ptr = np.concatenate([[0], np.cumsum(np.bincount(src, minlength=self.size.size))])
        return ptr.tolist(), dst[by_src]

    @classmethod
    def of(cls, buffers: Sequence[Buffer], alignment: int, checked: bool = False) -> Arrays:
        """ValueError when a value is out of int64's exact range (limits.py), unless the caller
        has `checked` that already."""
        if not checked:
            check_range(buffers, alignment)
        nbytes = np.array([b.nbytes for b in buffers], np.int64)
        return cls(np.array([b.start for b in buffers], np.int64),
                   np.array([b.end for b in buffers], np.int64), nbytes,
                   -(-nbytes // alignment))


def choose_gap(offs: np.ndarray, tops: np.ndarray, size: int, best_fit: bool) -> int:
    """The lowest (first fit) or tightest (best fit, ties: the lowest) gap of at least `size`
    among busy ranges [offs, tops); the top of the busy ranges if none fits. O(m log m). In
    offset order, gap 0 runs from 0 to the first range and gap k from the highest top of the
    ranges before it to range k. (Array methods, not numpy functions: this runs per buffer.)"""
    if offs.size == 0:
        return 0
    order = offs.argsort()  # ties in any order: they leave the gaps the same
    offs = offs[order]
    reach = np.maximum.accumulate(tops[order])
    below = int(offs[0])  # gap 0
    if below >= size and not best_fit:
        return 0
    gaps = offs[1:] - reach[:-1]
    fits = (gaps >= size).nonzero()[0]
    if fits.size == 0:
        return 0 if below >= size else int(reach[-1])
    k = fits[0] if not best_fit else fits[gaps[fits].argmin()]
    return 0 if size <= below <= gaps[k] else int(reach[k])


def place_fast(arr: Arrays, order: Sequence[int] | np.ndarray, best_fit: bool = True,
               offsets: np.ndarray | None = None, placed: np.ndarray | None = None,
               pool: np.ndarray | None = None, deadline: float | None = None) -> np.ndarray:
    """Offsets (in units) after placing `order` greedily around the already `placed` buffers.
    Zero-size buffers go to offset 0 and block nothing. Each placement looks at the placed
    buffers among its neighbours (Arrays.neighbours), or, where those lists would be too
    large, scans the placed buffers (`pool`, if given, lists every buffer that may be alive
    with one in `order`). Raises OutOfTime once past `deadline` (checked every 64 placements)."""
    offsets = np.zeros(arr.size.size, np.int64) if offsets is None else offsets.copy()
    lists = arr.neighbour_lists(deadline)
    if lists is None:
        return _place_scan(arr, order, best_fit, offsets, placed, pool, deadline)
    ptr, ind = lists
    done = arr.size > 0
    done &= np.zeros(arr.size.size, bool) if placed is None else placed
    sizes, size = arr.columns[2], arr.size
    todo = order.tolist() if isinstance(order, np.ndarray) else list(order)
    for count, i in enumerate(todo):
        if deadline is not None and count % 64 == 0 and time.monotonic() > deadline:
            raise OutOfTime(offsets, todo[count:])
        if sizes[i] == 0:
            offsets[i] = 0
            continue
        near = ind[ptr[i]:ptr[i + 1]]
        near = near[done[near]]
        lo = offsets[near]
        offsets[i] = choose_gap(lo, lo + size[near], sizes[i], best_fit)
        done[i] = True
    return offsets


def _place_scan(arr: Arrays, order: Sequence[int] | np.ndarray, best_fit: bool,
                offsets: np.ndarray, placed: np.ndarray | None, pool: np.ndarray | None,
                deadline: float | None) -> np.ndarray:
    """place_fast without neighbour lists: the placed buffers are kept as compact columns, so
    each placement is two comparisons over them and a sort of the ones alive with it."""
    pool = np.arange(arr.size.size) if pool is None else pool
    if placed is None:
        init = np.zeros(0, np.int64)
    else:
        init = pool[placed[pool] & (arr.size[pool] > 0)]
    k, cap = init.size, init.size + len(order)
    p_start, p_end = np.empty(cap, np.int64), np.empty(cap, np.int64)
    p_off, p_top = np.empty(cap, np.int64), np.empty(cap, np.int64)
    p_start[:k], p_end[:k], p_off[:k] = arr.start[init], arr.end[init], offsets[init]
    p_top[:k] = p_off[:k] + arr.size[init]
    starts, ends, sizes = arr.columns
    todo = order.tolist() if isinstance(order, np.ndarray) else list(order)
    for done, i in enumerate(todo):
        if deadline is not None and done % 64 == 0 and time.monotonic() > deadline:
            raise OutOfTime(offsets, todo[done:])
        size = sizes[i]
        if size == 0:
            offsets[i] = 0
            continue
        near = np.flatnonzero((p_start[:k] < ends[i]) & (p_end[:k] > starts[i]))
        off = choose_gap(p_off[near], p_top[near], size, best_fit)
        offsets[i] = off
        p_start[k], p_end[k], p_off[k], p_top[k] = starts[i], ends[i], off, off + size
        k += 1
    return offsets


def arena_units(arr: Arrays, offsets: np.ndarray) -> int:
    return int((offsets + arr.size).max()) if offsets.size else 0


def greedy_order(arr: Arrays, name: str) -> tuple[np.ndarray, bool]:
    """The placement order and fit (True: best fit) of a classic greedy plan, by the name of the
    registry planner it equals: best fit largest first, longest-lived first, most area first (no
    registry twin), and first fit in program order. Areas are compared as floats: a product of
    two int64 values may not fit int64, and an order needs no exact key."""
    life = arr.end - arr.start
    if name == "greedy_by_size":
        return np.lexsort((arr.start, -arr.nbytes)), True
    if name == "greedy_by_lifetime":
        return np.lexsort((-arr.nbytes, -life)), True
    if name == "greedy_by_area":
        return np.lexsort((arr.start, -(arr.nbytes.astype(float) * life))), True
    if name == "first_fit":
        return np.lexsort((np.arange(life.size), arr.start)), False
    raise ValueError(f"unknown greedy order {name!r}")


# In the order they run when time is short: largest first and most area first win most often on
# large random instances (one or the other in 6 of 7 measured), first fit in program order least.
GREEDY = ("greedy_by_size", "greedy_by_area", "greedy_by_lifetime", "first_fit")


def greedy_offsets(arr: Arrays, name: str, deadline: float | None = None) -> np.ndarray:
    """Offsets (in units) of the greedy plan `name` (see greedy_order); OutOfTime past
    `deadline`. Zero-size buffers get offset 0 here."""
    order, best_fit = greedy_order(arr, name)
    return place_fast(arr, order, best_fit, deadline=deadline)


def jittered_offsets(arr: Arrays, rng: np.random.Generator,
                     deadline: float | None = None) -> np.ndarray:
    """Most area first, best fit, with each area scaled by a random factor in [0.5, 1.5): more
    starts for ruin and recreate, which gains most from the best start (on random 25,000-buffer
    instances the best of six beat plain most-area-first in 4 of 5, by up to 0.01x the bound
    after improving). OutOfTime past `deadline`."""
    area = arr.size.astype(float) * (arr.end - arr.start) * rng.uniform(0.5, 1.5, arr.size.size)
    return place_fast(arr, np.argsort(-area, kind="stable"), True, deadline=deadline)


def greedy_plans(arr: Arrays, deadline: float | None = None) -> dict[str, np.ndarray]:
    """Offsets of the GREEDY plans that finish before `deadline`. The first that does not ends
    the list (the next would not finish either); if it is the first of all, its placement so
    far with the rest stacked on top is kept, as `<name>_partial` (ruin and recreate then
    moves the stacked buffers down, as if it went on placing them)."""
    plans = {}
    for name in GREEDY:
        try:
            plans[name] = greedy_offsets(arr, name, deadline)
        except OutOfTime as cut:
            if not plans:
                plans[f"{name}_partial"] = stack_rest(arr, cut.offsets, cut.rest)
            break
    return plans


def stack_rest(arr: Arrays, offsets: np.ndarray, rest: list[int]) -> np.ndarray:
    """`offsets` with the buffers `rest` placed one above the other over every other buffer's
    top: valid whenever the others are. O(n)."""
    out = offsets.copy()
    others = np.ones(arr.size.size, bool)
    others[rest] = False
    top = int((out[others] + arr.size[others]).max(initial=0))
    size = arr.size[rest]
    out[rest] = top + np.cumsum(size) - size
    return out


def window_offsets(arr: Arrays) -> np.ndarray:
    """A plan for when no greedy plan has time to finish, in O(n log n) numpy. A buffer living
    at most W = 4^l steps (l as small as can be) joins level l; a level cuts time into windows
    of W steps, stacks each window's buffers (by their first step's window), and puts even
    windows in one bank, odd ones in a second bank above: a buffer only lives in its window and
    the next, so buffers two windows apart never meet. Levels are stacked; buffers of over 4^30
    steps get their own bytes on top. Valid by construction; the arena is a few times the
    bound on random instances (no reuse: a thousand times on a million buffers)."""
    offsets = np.zeros(arr.size.size, np.int64)
    pos = np.flatnonzero(arr.size > 0)
    life = (arr.end - arr.start)[pos]
    level = np.minimum(np.ceil(np.log2(life.astype(float)) / 2).astype(np.int64), 31)
    level[(level < 31) & (4 ** np.minimum(level, 30) < life)] += 1  # float rounding
    base = 0
    for lev in np.unique(level).tolist():
        ids = pos[level == lev]
        if lev > 30:
            offsets[ids] = base + np.cumsum(arr.size[ids]) - arr.size[ids]
            base += int(arr.size[ids].sum())
            continue
        window = arr.start[ids] // (4 ** lev)
        ids, window = ids[np.argsort(window, kind="stable")], np.sort(window)
        below = np.cumsum(arr.size[ids]) - arr.size[ids]
        first = np.searchsorted(window, window)  # each window's first buffer
        within = below - below[first]
        total = np.zeros(2, np.int64)
        np.maximum.at(total, window % 2, within + arr.size[ids])
        offsets[ids] = base + (window % 2) * total[0] + within
        base += int(total.sum())
    return offsets


def no_reuse_offsets(arr: Arrays) -> np.ndarray:
    """Every buffer its own units, in order: the plan that needs no time at all."""
    return np.cumsum(arr.size) - arr.size


def _cost(arr: Arrays, offsets: np.ndarray) -> tuple[int, int]:
    """Arena, then the bytes of the buffers that reach the arena's top (fewer: closer to a cut)."""
    tops = offsets + arr.size
    arena = int(tops.max())
    return arena, int(arr.size[tops == arena].sum())


def improve(arr: Arrays, offsets: np.ndarray, bound: int, deadline: float,
            rng: random.Random, patience: int = 1000, max_ruin: int = 1000,
            stall_share: float | None = 0.25) -> np.ndarray:
    """Ruin and recreate around the buffers at the top until `deadline`, the bound, or a stall:
    `patience` rounds in a row, or `stall_share` of the time given (at least 0.5 s; None: no
    such limit), without a better cost. Each round takes out a slab (`_ruin`), puts it back in
    a perturbed greedy order (`_recreate_order`), best or first fit, and keeps the result if
    the cost (arena, then bytes at the top) did not grow. O(k * m) per round for k buffers
    taken out among m buffers alive in their time window."""
    best, cost = offsets, _cost(arr, offsets)
    now = time.monotonic()
    stall_s = math.inf if stall_share is None else max(0.5, stall_share * (deadline - now))
    last_gain, idle = now, 0
    while cost[0] > bound and idle < patience and now < min(deadline, last_gain + stall_s):
        ruin = _ruin(arr, best, cost[0], rng, max_ruin)
        keep = np.ones(arr.size.size, bool)
        keep[ruin] = False
        pool = None if arr.neighbour_lists(deadline) is not None else np.flatnonzero(
            (arr.start < arr.end[ruin].max()) & (arr.end > arr.start[ruin].min()) & (arr.size > 0))
        try:
            cand = place_fast(arr, _recreate_order(arr, best, ruin, rng), rng.random() < 0.7,
                              best, keep, pool, deadline)
        except OutOfTime:
            break
        new = _cost(arr, cand)
        now = time.monotonic()
        if new < cost:
            idle, last_gain = 0, now
        else:
            idle += 1
        if new <= cost:
            best, cost = cand, new
    return best


def _recreate_order(arr: Arrays, offsets: np.ndarray, ruin: np.ndarray,
                    rng: random.Random) -> np.ndarray:
    """Largest first, longest-lived first, or most area first (keys jittered by up to 50%), or
    by the old offsets (a compaction)."""
    how = rng.randrange(4)
    if how == 3:
        return ruin[np.argsort(offsets[ruin], kind="stable")]
    size, life = arr.size[ruin].astype(float), (arr.end - arr.start)[ruin].astype(float)
    key = (size, life, size * life)[how]
    noise = np.array([1 + 0.5 * rng.random() for _ in ruin])
    return ruin[np.argsort(-key * noise, kind="stable")]


def _ruin(arr: Arrays, offsets: np.ndarray, arena: int, rng: random.Random,
          max_ruin: int) -> np.ndarray:
    """A buffer c that reaches the top, and every buffer alive with it whose top is above a
    random floor below c; if that is more than `max_ruin`, the ones alive nearest in time to a
    random step of c's lifetime (highest first)."""
    tops = offsets + arr.size
    top_ids = np.flatnonzero(tops == arena)
    c = int(top_ids[rng.randrange(top_ids.size)])
    near = np.flatnonzero((arr.start < arr.end[c]) & (arr.end > arr.start[c]) & (arr.size > 0))
    floor = offsets[c] - int(rng.random() ** 2 * arena * 0.5)
    ruin = near[tops[near] > floor]
    if ruin.size > max_ruin:
        step = rng.randrange(int(arr.start[c]), int(arr.end[c]))
        gap = np.maximum(arr.start[ruin] - step, 0) + np.maximum(step + 1 - arr.end[ruin], 0)
        ruin = ruin[np.lexsort((-tops[ruin], gap))[:max_ruin]]
    return np.union1d(ruin, [c])


def iterated_offsets(arr: Arrays, bound: int, deadline: float, seed: int = 0,
                     patience: int = 1000, start: np.ndarray | None = None,
                     stall_share: float | None = 0.25) -> np.ndarray:
    """`start` (default: the best greedy plan finished by `deadline`, or window_offsets' plan
    if better) improved by `improve`, in alignment units."""
    if arr.size.size == 0:
        return np.zeros(0, np.int64)
    if start is None:
        plans = [*greedy_plans(arr, deadline).values(), window_offsets(arr)]
        start = min(plans, key=lambda off: arena_units(arr, off))
    return improve(arr, start, bound, deadline, random.Random(seed), patience,
                   stall_share=stall_share)


def iterated(buffers: Sequence[Buffer], alignment: int = 1, time_limit_s: float = 2.0,
             seed: int = 0, patience: int = 1000) -> Plan:
    """Planner: iterated greedy within `time_limit_s` (stops early at the lower bound or when
    `patience` rounds in a row brought nothing). Deterministic for a given seed and machine
    speed; never worse than greedy_by_size, greedy_by_lifetime or first_fit."""
    arr = Arrays.of(buffers, alignment)
    bound = -(-lower_bound(buffers, alignment) // alignment)
    offsets = iterated_offsets(arr, bound, time.monotonic() + time_limit_s, seed, patience)
    return Plan(tuple(int(o) * alignment for o in offsets), arena_units(arr, offsets) * alignment,
                "iterated")
