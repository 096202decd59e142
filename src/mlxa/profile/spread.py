"""A measured figure as the commands report it: median and spread over repeated trials, and the
best trial. One place decides when a figure is too noisy to trust, so every command warns alike."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

NOISY_RATIO = 1.5  # p90 / p10 above this: the trials disagree too much


@dataclass(frozen=True)
class Spread:
    """Seconds per trial over `n` trials: median, 10th and 90th percentiles, and the fastest.
    Invariant: best_s <= p10_s <= median_s <= p90_s."""

    median_s: float
    p10_s: float
    p90_s: float
    best_s: float
    n: int

    @property
    def spread_ratio(self) -> float:
        return self.p90_s / self.p10_s if self.p10_s > 0 else 1.0

    @property
    def noisy(self) -> bool:
        return self.spread_ratio > NOISY_RATIO


def spread_of(samples_s: Sequence[float]) -> Spread:
    a = np.asarray(samples_s, dtype=float)
    p10, med, p90 = np.percentile(a, [10, 50, 90])
    return Spread(float(med), float(p10), float(p90), float(a.min()), int(a.size))


def time_trials(fn: Callable[[], object], min_trials: int, budget_s: float,
                clock: Callable[[], float], max_trials: int = 200,
                before: Callable[[], object] | None = None) -> Spread:
    """Run `fn` at least `min_trials` times and until `budget_s` is spent (at most
    `max_trials`); the seconds of each call, as a Spread. `before` runs, untimed, before each
    call."""
    samples: list[float] = []
    start = clock()
    while len(samples) < max_trials and (len(samples) < min_trials
                                          or clock() - start < budget_s):
        if before is not None:
            before()
        t0 = clock()
        fn()
        samples.append(clock() - t0)
    return spread_of(samples)
