"""Decision search: can these buffers be placed in an arena of `capacity` units? A depth-first
branch and bound over *canonical* placements, in the spirit of MiniMalloc (Moffitt, ASPLOS 2023).

Canonical placements. Push every buffer of a valid plan down until it rests on a buffer alive with
it, or on offset 0; the plan stays valid and no higher. Listed by (offset, static rank), such a plan
is built by placing each buffer at its *floor*: the highest top of the already placed buffers alive
with it. So the search only decides the order, and only enumerates orders whose (offset, rank) keys
increase (every packed plan has exactly one). Pruning, each sound for that enumeration:

* monotone floor: no later buffer goes below the last offset, so in every step section (a stretch
  of steps where no buffer starts or ends) the free space starts at max(last offset, the lowest
  floor of its unplaced buffers); that plus the unplaced bytes of the section must fit `capacity`;
* gap dominance: a buffer is not placed at or above the lowest top any unplaced buffer could reach
  (that buffer would fit beneath it, so a smaller canonical key places it first);
* decomposition: once the unplaced buffers split into groups with disjoint lifetimes, each group
  is solved on its own, and a group that fails fails the node (no thrashing across groups).

Invariant (between calls): `floor[b]` is the highest top of the placed buffers alive with unplaced
`b`; `total[s]` is the sum of unplaced sizes alive in section s; the trail undoes every placement.
Each node costs O(n + coverage) numpy work; the tree is exponential in the worst case, so the search
stops at a deadline or a node limit (raising `SearchStopped`).
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

_BIG = np.iinfo(np.int64).max // 4


class SearchStopped(Exception):
    """The deadline or the node limit was reached before the question was decided."""


@dataclass(frozen=True)
class Instance:
    """Positive-size buffers in units of the alignment, on a compressed time axis (sections)."""

    size: np.ndarray  # int64 (n,)
    lo: np.ndarray  # first section of each buffer
    hi: np.ndarray  # one past its last section
    overlaps: tuple[np.ndarray, ...]  # buffers alive together with each buffer
    ovl_ptr: np.ndarray  # the same as CSR: overlaps[i] == ovl_ind[ovl_ptr[i]:ovl_ptr[i+1]]
    ovl_ind: np.ndarray
    sec_ptr: np.ndarray  # CSR: section s is covered by sec_ind[sec_ptr[s]:sec_ptr[s+1]]
    sec_ind: np.ndarray  # ... every section also lists the dummy buffer n (never unplaced)
    total: np.ndarray  # bytes alive in each section

    @property
    def n(self) -> int:
        return int(self.size.size)


def build_instance(size: np.ndarray, start: np.ndarray, end: np.ndarray) -> Instance:
    """Sections from the distinct start/end steps; overlap lists by a chunked O(n^2) mask."""
    cuts = np.unique(np.concatenate([start, end]))
    lo = np.searchsorted(cuts, start).astype(np.int64)
    hi = np.searchsorted(cuts, end).astype(np.int64)
    n, n_sec = size.size, max(int(cuts.size) - 1, 0)
    overlaps: list[np.ndarray] = []
    for c0 in range(0, n, 1024):
        rows = slice(c0, min(n, c0 + 1024))
        mask = (lo[rows, None] < hi[None, :]) & (lo[None, :] < hi[rows, None])
        mask[np.arange(mask.shape[0]), np.arange(c0, c0 + mask.shape[0])] = False
        overlaps.extend(np.flatnonzero(row) for row in mask)
    spans = hi - lo
    owner = np.repeat(np.arange(n), spans)
    sec = np.repeat(lo - np.cumsum(spans) + spans, spans) + np.arange(int(spans.sum()))
    sec = np.concatenate([sec, np.arange(n_sec)])  # the dummy buffer n, in every section
    owner = np.concatenate([owner, np.full(n_sec, n)])
    order = np.lexsort((owner, sec))
    ptr = np.searchsorted(sec[order], np.arange(n_sec + 1))
    total = np.bincount(sec[: int(spans.sum())], weights=np.repeat(size, spans),
                        minlength=n_sec).astype(np.int64)
    ovl_ptr = np.concatenate([[0], np.cumsum([o.size for o in overlaps])]).astype(np.int64)
    ovl_ind = np.concatenate(overlaps) if overlaps else np.zeros(0, np.int64)
    return Instance(size.astype(np.int64), lo, hi, tuple(overlaps), ovl_ptr, ovl_ind, ptr,
                    owner[order], total)


class Search:
    """One decision search over `inst` for `capacity`, preferring buffers by `rank` (low first)."""

    def __init__(self, inst: Instance, capacity: int, rank: np.ndarray, deadline: float,
                 node_limit: int, failed: dict[bytes, tuple[int, int]] | None = None,
                 stop: Callable[[], bool] | None = None) -> None:
        self.inst, self.cap, self.rank = inst, capacity, rank
        self.deadline, self.node_limit, self.nodes = deadline, node_limit, 0
        self.stop = stop or (lambda: False)
        self.floor = np.zeros(inst.n + 1, np.int64)
        self.placed = np.zeros(inst.n + 1, bool)
        self.placed[inst.n] = True
        self.total = inst.total.copy()
        self.offset = np.full(inst.n, -1, np.int64)
        self.size_ext = np.append(inst.size, 0)
        self.failed = {} if failed is None else failed
        self.trail: list[tuple[int, np.ndarray, np.ndarray]] = []

    def run(self) -> np.ndarray | None:
        """Offsets of a plan within capacity, None if there is none; SearchStopped if undecided."""
        members = np.argsort(self.inst.lo, kind="stable")
        if self.inst.n and int(self.inst.size.max()) > self.cap:
            return None
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 5 * self.inst.n + 1000))  # four frames per placement
        try:
            if not self._solve_groups(self._split(members), -1, -1):
                return None
        finally:
            sys.setrecursionlimit(limit)
        return self.offset.copy()

    def _solve(self, members: np.ndarray, last: int, last_rank: int) -> bool:
        """Place all of `members` (unplaced, sorted by first section) above (last, last_rank)."""
        if members.size == 0:
            return True
        self.nodes += 1
        if self.nodes >= self.node_limit or (self.nodes & 255 == 0 and (
                time.monotonic() > self.deadline or self.stop())):
            raise SearchStopped
        floor = self.floor[members]
        tops = floor + self.inst.size[members]
        if int(tops.max()) > self.cap:
            return False
        key = hashlib.blake2b(members.tobytes() + floor.tobytes(), digest_size=16).digest()
        seen = self.failed.get(key)
        if seen is not None and (last, last_rank) >= seen:
            return False
        if self._branch(members, floor, tops, last, last_rank):
            return True
        if seen is None or (last, last_rank) < seen:
            self.failed[key] = (last, last_rank)
        return False

    def _branch(self, members: np.ndarray, floor: np.ndarray, tops: np.ndarray, last: int,
                last_rank: int) -> bool:
        rank = self.rank[members]
        s0, s1 = int(self.inst.lo[members[0]]), int(self.inst.hi[members].max())
        high = min(int(tops.min()) - 1, self.cap - int(self.total[s0:s1].max()))
        ok = ((floor > last) | ((floor == last) & (rank > last_rank))) & (floor <= high)
        cand, cand_floor, cand_rank = members[ok], floor[ok], rank[ok]
        for b in cand[np.lexsort((cand_rank, cand_floor))]:
            if self._try(members, int(b)):
                return True
        return False

    def _try(self, members: np.ndarray, b: int) -> bool:
        mark = len(self.trail)
        y = self._place(b)
        rest = members[members != b]
        if not rest.size:
            return True
        rank = int(self.rank[b])
        if self._fits(rest, y, rank) and self._solve_groups(self._split(rest), y, rank):
            return True
        self._undo(mark)
        return False

    def _solve_groups(self, groups: list[np.ndarray], last: int, last_rank: int) -> bool:
        for g in groups:  # a plain loop: all() over a generator would recurse on the C stack
            if not self._solve(g, last, last_rank):
                return False
        return True

    def _place(self, b: int) -> int:
        inst = self.inst
        y = int(self.floor[b])
        top = y + int(inst.size[b])
        nb = inst.overlaps[b]
        nb = nb[~self.placed[nb]]
        raised = nb[self.floor[nb] < top]
        self.trail.append((b, raised, self.floor[raised]))
        self.floor[raised] = top
        self.placed[b] = True
        self.offset[b] = y
        self.total[inst.lo[b]:inst.hi[b]] -= inst.size[b]
        return y

    def _undo(self, mark: int) -> None:
        inst = self.inst
        while len(self.trail) > mark:
            b, raised, old = self.trail.pop()
            self.floor[raised] = old
            self.placed[b] = False
            self.offset[b] = -1
            self.total[inst.lo[b]:inst.hi[b]] += inst.size[b]

    def _fits(self, rest: np.ndarray, last: int, last_rank: int) -> bool:
        """Section inference over the sections spanned by `rest`, with effective floors: an
        unplaced buffer below (last, last_rank) must later rest on an unplaced neighbour, so it
        lies at least that neighbour's size above `last`."""
        inst = self.inst
        eff = np.where(self.placed, _BIG, self.floor)
        fl = eff[rest]
        stuck = rest[(fl < last) | ((fl == last) & (self.rank[rest] < last_rank))]
        if stuck.size:
            starts, lens = inst.ovl_ptr[stuck], inst.ovl_ptr[stuck + 1] - inst.ovl_ptr[stuck]
            if not lens.all():
                return False
            base = np.repeat(starts - np.cumsum(lens) + lens, lens)
            nb = inst.ovl_ind[base + np.arange(int(lens.sum()))]
            support = np.minimum.reduceat(np.where(self.placed[nb], _BIG, self.size_ext[nb]),
                                          np.cumsum(lens) - lens)
            eff[stuck] = np.minimum(last + support, _BIG)
        if int((eff[rest] + inst.size[rest]).max()) > self.cap:
            return False
        s0, s1 = int(inst.lo[rest[0]]), int(inst.hi[rest].max())
        p0, p1 = int(inst.sec_ptr[s0]), int(inst.sec_ptr[s1])
        vals = eff[inst.sec_ind[p0:p1]]
        low = np.minimum.reduceat(vals, inst.sec_ptr[s0:s1] - p0)
        need = np.maximum(np.minimum(low, self.cap), last) + self.total[s0:s1]
        return not bool((need > self.cap).any())

    def _split(self, members: np.ndarray) -> list[np.ndarray]:
        """Groups of `members` (sorted by first section) whose lifetimes do not overlap."""
        if members.size < 2:
            return [members]
        reach = np.maximum.accumulate(self.inst.hi[members])
        cuts = np.flatnonzero(self.inst.lo[members[1:]] >= reach[:-1]) + 1
        return np.split(members, cuts) if cuts.size else [members]


def static_ranks(inst: Instance, start: np.ndarray, end: np.ndarray) -> list[np.ndarray]:
    """Three static preferences (rank 0 first), tried in turn: by the most loaded section the
    buffer lives in (T), its lifetime (W) and its area (A), in the orders TWA, TAW and WAT."""
    spans = inst.hi - inst.lo
    firsts = np.repeat(np.arange(inst.n), spans)
    secs = np.repeat(inst.lo - np.cumsum(spans) + spans, spans) + np.arange(int(spans.sum()))
    load = np.zeros(inst.n, np.int64)
    np.maximum.at(load, firsts, inst.total[secs])
    width = (end - start).astype(np.int64)
    keys = {"T": -load, "W": -width, "A": -width * inst.size}
    ranks = []
    for name in ("TWA", "TAW", "WAT"):
        order = np.lexsort(tuple(keys[k] for k in reversed(name)))
        rank = np.empty(inst.n, np.int64)
        rank[order] = np.arange(inst.n)
        ranks.append(rank)
    return ranks


def decide(inst: Instance, capacity: int, ranks: Sequence[np.ndarray], deadline: float,
           stop: Callable[[], bool] | None = None) -> np.ndarray | None:
    """Round robin over the rankings with a node limit that doubles each round (a search that
    goes wrong early is abandoned for another order). Offsets within capacity, None if proven
    impossible, SearchStopped at the deadline or when `stop()` says so."""
    caches: list[dict[bytes, tuple[int, int]]] = [{} for _ in ranks]
    limit = max(inst.n, 16)
    while True:
        limit *= 2
        for rank, cache in zip(ranks, caches):
            if len(cache) > 1_000_000:
                cache.clear()
            try:
                return Search(inst, capacity, rank, deadline, limit, cache, stop).run()
            except SearchStopped:
                if time.monotonic() > deadline or (stop is not None and stop()):
                    raise
