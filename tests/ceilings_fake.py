"""A made-up machine's ceilings for tests: three cache plateaus and DRAM, a 100 GFLOP/s peak."""

from __future__ import annotations

import itertools

from mlxa.machine.ceilings import (
    BandwidthPoint,
    Ceilings,
    ComputePeak,
    TheoreticalPeak,
    find_plateaus,
)
from mlxa.profile.spread import Spread

PEAK_FLOPS = 100e9
# (working set, copy GB/s): L1 to 32 KiB, L2 to 1 MiB, L3 to 32 MiB, DRAM beyond; one point
# between each pair of levels
CURVE = ((16 << 10, 90), (32 << 10, 92), (64 << 10, 68), (128 << 10, 60), (256 << 10, 61),
         (512 << 10, 59), (1 << 20, 60), (2 << 20, 45), (4 << 20, 30), (8 << 20, 31),
         (16 << 20, 29), (32 << 20, 30), (64 << 20, 15), (128 << 20, 8), (256 << 20, 8.2),
         (512 << 20, 7.9))


def spread(seconds: float) -> Spread:
    return Spread(seconds * 1.02, seconds * 1.01, seconds * 1.05, seconds, 5)


REREAD = 1 << 20  # the reread buffer; its rate is half the copy rate at every size


def fake_ceilings(curve: tuple[tuple[int, float], ...] = CURVE,
                  fingerprint: str = "fake") -> Ceilings:
    points = tuple(BandwidthPoint(ws, spread(ws / (gbs * 1e9)), ws, spread(ws / (gbs * 1e9)), ws,
                                  spread(REREAD / (gbs * 0.5e9)), REREAD)
                   for ws, gbs in curve)
    plateaus = find_plateaus([ws for ws, _ in curve], [p.copy_bytes_per_s for p in points])
    peak = ComputePeak(int(PEAK_FLOPS), spread(1.0), "fake")
    return Ceilings(fingerprint, {"cpu": "fake"}, 1, points, plateaus, peak,
                    TheoreticalPeak(1, 2.0, "fake", 16, 2, "fake"), None, "no INT8 here", 0.0,
                    "2026-01-01T00:00:00+00:00", None)


def fake_clock(step: float = 1e-3):
    """A clock that advances `step` seconds each time it is read."""
    ticks = itertools.count()
    return lambda: next(ticks) * step
