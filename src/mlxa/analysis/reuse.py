"""Where each call's operands come from: their reuse distance.

A call reads an operand from the cache level that holds everything touched since the operand's
memory was last touched. That amount, the operand's reuse distance, is an LRU stack distance in
bytes: the distinct memory the program touched in between. An activation its producer wrote a
call earlier has a short distance and sits in a near cache; a weight is read once per inference,
so a whole round of the program's memory (every other weight, the arena, the scratch) passes
between two reads of it, and a model larger than the last cache level streams its weights from
DRAM on every inference, however small the layer.

Distances are taken in the steady state of repeated inferences (the call sequence run twice, the
second round read) over the memory's real addresses in 1 KiB blocks, so a planner that reuses
memory shortens them: a block written over by a later value counts once. An operand's distance
is that of its least recently touched block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BLOCK = 1024  # bytes: the granule of the stack distance


@dataclass(frozen=True)
class Span:
    """A run of memory one call touches: its address, its size, and whether the call reads it
    (an input) or only writes it (an output or scratch, which evicts but is not fetched)."""

    address: int
    nbytes: int
    read: bool


def reuse_distances(calls: Sequence[Sequence[Span]]) -> list[list[int]]:
    """Per call, per span (in order), the bytes of distinct memory touched since that span's
    memory was last touched, in the steady state of repeated rounds of `calls`; 0 for spans
    that are only written. Memory a round touches once reads as the whole round's footprint."""
    ids = [[_blocks(s) for s in spans] for spans in calls]
    if not any(len(b) for spans in ids for b in spans):
        return [[0] * len(spans) for spans in calls]
    universe = np.unique(np.concatenate([b for spans in ids for b in spans if len(b)]))
    index = [[np.searchsorted(universe, b) for b in spans] for spans in ids]
    last = np.full(universe.size, -1, np.int64)
    out: list[list[int]] = []
    t = 0
    for round_ in range(2):
        for spans, blocks in zip(calls, index):
            row = []
            for s, b in zip(spans, blocks):
                if round_ == 0 or not s.read or not len(b):
                    row.append(0)
                    continue
                since = int(last[b].min())  # the span's least recently touched block
                row.append(int(np.count_nonzero(last > since)) * BLOCK)
            for b in blocks:
                last[b] = t
            t += 1
            if round_ == 1:
                out.append(row)
    return out


def _blocks(s: Span) -> np.ndarray:
    if s.nbytes <= 0:
        return np.empty(0, np.int64)
    return np.arange(s.address // BLOCK, (s.address + s.nbytes - 1) // BLOCK + 1, dtype=np.int64)
