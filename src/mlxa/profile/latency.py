"""Latency: warm-up calls, then `repeat` timed calls of one inference each, summarised by the
median and the 10th and 90th percentiles. The clock is injectable so tests are deterministic."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    median_ms: float
    p10_ms: float
    p90_ms: float
    min_ms: float
    warmup: int
    repeat: int

    @staticmethod
    def of(samples_s: list[float], warmup: int) -> LatencyStats:
        ms = np.asarray(samples_s) * 1e3
        p10, p50, p90 = np.percentile(ms, [10, 50, 90])
        return LatencyStats(float(p50), float(p10), float(p90), float(ms.min()), warmup, len(ms))


def measure_latency(fn: Callable[[], Any], warmup: int, repeat: int,
                    clock: Callable[[], float] = time.perf_counter) -> LatencyStats:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = clock()
        fn()
        samples.append(clock() - t0)
    return LatencyStats.of(samples, warmup)


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
