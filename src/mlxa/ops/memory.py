"""The one place kernels allocate tensors, so allocations per inference can be counted exactly.

tracemalloc measures peaks independently (numpy reports its buffers to it); this counter says how
many tensor buffers were asked for, which a peak cannot tell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class AllocationCounter:
    count: int = 0
    nbytes: int = 0


COUNTER = AllocationCounter()


def empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    out = np.empty(shape, dtype)
    COUNTER.count += 1
    COUNTER.nbytes += out.nbytes
    return out


def snapshot() -> tuple[int, int]:
    return COUNTER.count, COUNTER.nbytes
