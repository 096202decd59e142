"""Latency: warm-up calls, then timed calls of one inference each, summarised by the median and
the 10th and 90th percentiles. The clock is injectable so tests are deterministic.

Executors compared in one run take turns (A, B, A, B, ...), so load that arrives mid-run lands on
both sides alike. How many turns: `repeat` when given, else as many as a time budget allows
(like timeit's autorange: one call is timed after the warm-up and the budget divided by it),
at least MIN_REPEAT and at most MAX_REPEAT.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MIN_REPEAT = 5
MAX_REPEAT = 200


@dataclass(frozen=True)
class LatencyStats:
    median_ms: float
    p10_ms: float
    p90_ms: float
    min_ms: float
    warmup: int
    repeat: int
    samples_ms: tuple[float, ...] = ()

    @staticmethod
    def of(samples_s: list[float], warmup: int) -> LatencyStats:
        ms = np.asarray(samples_s) * 1e3
        p10, p50, p90 = np.percentile(ms, [10, 50, 90])
        return LatencyStats(float(p50), float(p10), float(p90), float(ms.min()), warmup, len(ms),
                            tuple(float(x) for x in ms))

    @property
    def spread_ratio(self) -> float:
        """p90 / p10: 1 on a quiet machine; above SPREAD_WARNING the figures are noisy."""
        return self.p90_ms / self.p10_ms if self.p10_ms > 0 else 1.0


def measure_latency(fn: Callable[[], Any], warmup: int, repeat: int,
                    clock: Callable[[], float] = time.perf_counter) -> LatencyStats:
    return measure_interleaved({"": fn}, warmup, repeat, clock=clock)[""]


def measure_interleaved(runners: Mapping[str, Callable[[], Any]], warmup: int,
                        repeat: int | None, budget_s: float = 3.0,
                        clock: Callable[[], float] = time.perf_counter,
                        after_turn: Callable[[int, int], None] | None = None
                        ) -> dict[str, LatencyStats]:
    """Each runner warmed up, then timed in turns; `repeat=None` sizes the turns to `budget_s`
    (the whole timed part, all runners together). `after_turn(turns done, turns)` is called
    between turns, outside every timed call (progress reporting)."""
    for fn in runners.values():
        for _ in range(warmup):
            fn()
    if repeat is None:
        repeat = autorange(runners, budget_s, clock)
    samples: dict[str, list[float]] = {k: [] for k in runners}
    for turn in range(repeat):
        for key, fn in runners.items():
            t0 = clock()
            fn()
            samples[key].append(clock() - t0)
        if after_turn is not None:
            after_turn(turn + 1, repeat)
    return {k: LatencyStats.of(v, warmup) for k, v in samples.items()}


def autorange(runners: Mapping[str, Callable[[], Any]], budget_s: float,
              clock: Callable[[], float] = time.perf_counter) -> int:
    """Turns that fit `budget_s`, from one timed call of each runner."""
    one_turn = 0.0
    for fn in runners.values():
        t0 = clock()
        fn()
        one_turn += clock() - t0
    if one_turn <= 0:
        return MAX_REPEAT
    return int(min(MAX_REPEAT, max(MIN_REPEAT, budget_s // one_turn)))


def speedup_interval(base: LatencyStats, opt: LatencyStats, confidence: float = 0.95,
                     resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """A bootstrap interval of median(base) / median(opt): both sample sets resampled with
    replacement `resamples` times; the central `confidence` share of the ratios."""
    a, b = np.asarray(base.samples_ms), np.asarray(opt.samples_ms)
    if len(a) < 2 or len(b) < 2:
        ratio = base.median_ms / opt.median_ms if opt.median_ms else float("inf")
        return ratio, ratio
    rng = np.random.default_rng(seed)
    ma = np.median(a[rng.integers(0, len(a), (resamples, len(a)))], axis=1)
    mb = np.median(b[rng.integers(0, len(b), (resamples, len(b)))], axis=1)
    ratios = ma / np.maximum(mb, 1e-12)
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(ratios, [tail, 100 - tail])
    return float(lo), float(hi)


def median_seconds(steps: Sequence[Callable[[], Any]], repeat: int,
                   warmup: int = 5) -> list[float]:
    """Each step's median seconds per call, the steps warmed up, then timed in turns call by
    call (measure_interleaved): a kernel and its alternative compared in one run."""
    stats = measure_interleaved({str(i): s for i, s in enumerate(steps)}, warmup, repeat)
    return [stats[str(i)].median_ms / 1e3 for i in range(len(steps))]


def interleaved_medians(runners: dict[str, Callable[[], Any]], repeat: int,
                        rounds: int) -> dict[str, float]:
    """Median latency (ms) of each runner over `rounds` rounds that take turns, so drift and
    noise on a shared machine hit every runner alike; each round is a measure_latency median."""
    per_round: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(rounds):
        for key, fn in runners.items():
            stats = measure_latency(fn, warmup=max(3, repeat // 10), repeat=repeat)
            per_round[key].append(stats.median_ms)
    return {k: float(np.median(v)) for k, v in per_round.items()}
