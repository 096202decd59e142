"""Timing several calls against each other on a shared, busy machine: rounds take turns (every
call runs once per round, in rotating order), so load that arrives mid-run lands on all of them;
rounds repeat until the budget is spent (at least `min_rounds`). The figure kept per call is the
best round (the least disturbed), and the median beside it says how noisy the run was."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Timing:
    """Seconds of one call: the best and the median round, and how many rounds ran."""

    best_s: float
    median_s: float
    rounds: int


def interleave(calls: Mapping[str, Callable[[], object]], budget_s: float, min_rounds: int = 3,
               max_rounds: int = 50,
               clock: Callable[[], float] = time.perf_counter) -> dict[str, Timing]:
    names = list(calls)
    for name in names:
        calls[name]()  # warm-up: first touch, lazy initialisation
    samples: dict[str, list[float]] = {k: [] for k in names}
    start = clock()
    rounds = 0
    while rounds < min_rounds or (clock() - start < budget_s and rounds < max_rounds):
        order = names[rounds % len(names):] + names[:rounds % len(names)]
        for name in order:
            t0 = clock()
            calls[name]()
            samples[name].append(clock() - t0)
        rounds += 1
    return {k: Timing(min(v), float(np.median(v)), len(v)) for k, v in samples.items()}


def blas_threads(threads: int) -> contextlib.AbstractContextManager[Any]:
    """numpy's BLAS held to `threads` (machine/blas.py's limiter; without threadpoolctl the
    studies run unlimited rather than refuse)."""
    from mlxa.machine.blas import blas_threads as limit

    return limit(threads, required=False)
