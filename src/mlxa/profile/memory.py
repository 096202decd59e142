"""Memory of one inference, measured two independent ways.

- tracemalloc: numpy reports every data buffer it allocates to tracemalloc, so the traced peak
  within one call, above what was traced before it, is the memory the call needed (Python objects
  included, which are small).
- the kernels' allocation counter (ops/memory.py): how many tensor buffers the call asked for and
  their bytes, which a peak cannot tell.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlxa.ops import memory


@dataclass(frozen=True)
class MemoryStats:
    peak_traced_nbytes: int
    retained_traced_nbytes: int
    allocations: int
    allocated_nbytes: int


def measure_memory(fn: Callable[[], Any]) -> MemoryStats:
    """Run `fn` once under tracemalloc (call it once before, to warm up)."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        count0, nbytes0 = memory.snapshot()
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        result = fn()
        after, peak = tracemalloc.get_traced_memory()
        count1, nbytes1 = memory.snapshot()
        del result
    finally:
        if started:
            tracemalloc.stop()
    return MemoryStats(peak - before, after - before, count1 - count0, nbytes1 - nbytes0)
