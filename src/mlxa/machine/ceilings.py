"""This machine's ceilings as typed data, and the roofline read from them.

A ceiling is a rate no code on this machine should beat: bandwidth at a working-set size (one
plateau per cache level and DRAM, found from the measured curve) and peak arithmetic (FP32
through BLAS, INT8 through a library that uses VNNI/AMX). The roofline of a kernel that does
`flops` arithmetic on `nbytes` of traffic over a working set of `ws` bytes predicts
    time = max(flops / peak, nbytes / bandwidth(ws))
(Williams, Waterman, Patterson, CACM 2009), so attainable FLOP/s = min(peak, bandwidth x
intensity). Measuring is in machine/probe.py, the cache in machine/cache.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlxa.profile.spread import Spread
from mlxa.result import Versioned

SCHEMA = "mlxa.ceilings/2"
PLATEAU_TOLERANCE = 1.3  # a point joins a plateau when within this factor of its median
TRIM_TOLERANCE = 1.12  # a plateau's edge point further than this from the rest is a transition


@dataclass(frozen=True)
class BandwidthPoint:
    """Copy and triad at one working set (bytes of every array the kernel touches). Rates count
    STREAM's bytes: copy 2 x array bytes (read + write), triad 3 x (two reads, one write).
    `reread`: reading a REREAD_NBYTES buffer right after a copy of this working set, as a
    weight is read once per inference after a round of other memory passed: the rate of a read
    at this reuse distance (None in data measured without it)."""

    working_set_nbytes: int
    copy: Spread  # seconds per call
    copy_nbytes: int  # bytes one copy call moves (STREAM count)
    triad: Spread
    triad_nbytes: int
    reread: Spread | None = None
    reread_nbytes: int = 0

    @property
    def reread_bytes_per_s(self) -> float | None:
        return self.reread_nbytes / self.reread.best_s if self.reread is not None else None

    @property
    def copy_bytes_per_s(self) -> float:
        return self.copy_nbytes / self.copy.best_s

    @property
    def triad_bytes_per_s(self) -> float:
        return self.triad_nbytes / self.triad.best_s


@dataclass(frozen=True)
class Plateau:
    """A run of working sets whose copy rate stays within PLATEAU_TOLERANCE of its median:
    one cache level (or DRAM, the last). Sizes inclusive: first_nbytes <= last_nbytes."""

    name: str
    first_nbytes: int
    last_nbytes: int
    copy_bytes_per_s: float  # median of the best rates of its points


@dataclass(frozen=True)
class ComputePeak:
    """A measured arithmetic rate: `ops` per call (FLOPs, or integer multiply-adds x 2)."""

    ops: int
    time: Spread
    how: str

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.time.best_s


@dataclass(frozen=True)
class TheoreticalPeak:
    """cores x GHz x SIMD lanes x FMA units x 2 (an FMA is two FLOPs)."""

    cores: int
    ghz: float
    ghz_source: str
    simd_lanes: int
    fma_units: int
    assumption: str

    @property
    def flops_per_s(self) -> float:
        return self.cores * self.ghz * 1e9 * self.simd_lanes * self.fma_units * 2


@dataclass(frozen=True)
class Ceilings(Versioned):
    fingerprint: str
    machine: dict[str, Any]
    threads: int  # BLAS threads of the FP32 peak; bandwidth is one thread (numpy ufuncs)
    bandwidth: tuple[BandwidthPoint, ...]
    plateaus: tuple[Plateau, ...]
    fp32: ComputePeak
    fp32_theoretical: TheoreticalPeak
    int8: ComputePeak | None
    int8_note: str
    measured_s: float
    date: str
    load_average: float | None
    warnings: tuple[str, ...] = ()
    schema: str = SCHEMA


    @property
    def peak_flops_per_s(self) -> float:
        return self.fp32.ops_per_s

    def bandwidth_at(self, working_set_nbytes: float) -> float:
        return bandwidth_at(self.bandwidth, working_set_nbytes)

    @property
    def reread_nbytes(self) -> int:
        """The reread curve's buffer size (0 where not measured)."""
        return max((p.reread_nbytes for p in self.bandwidth if p.reread is not None), default=0)

    def reread_at(self, reuse_nbytes: float) -> float:
        """Read bandwidth (bytes/s) of data last touched `reuse_nbytes` of other memory ago,
        interpolated like bandwidth_at; the copy bandwidth at that size where not measured."""
        points = [p for p in self.bandwidth if p.reread_bytes_per_s is not None]
        if not points:
            return self.bandwidth_at(reuse_nbytes)
        return _interpolate([p.working_set_nbytes for p in points],
                            [p.reread_bytes_per_s or 0.0 for p in points], reuse_nbytes)


def bandwidth_at(points: Sequence[BandwidthPoint], working_set_nbytes: float) -> float:
    """Copy bandwidth (bytes/s) at a working set: interpolated on log size between measured
    points, the end points' rate outside them."""
    return _interpolate([p.working_set_nbytes for p in points],
                        [p.copy_bytes_per_s for p in points], working_set_nbytes)


def _interpolate(sizes: Sequence[int], rates: Sequence[float], nbytes: float) -> float:
    xs = [math.log(s) for s in sizes]
    ys = list(rates)
    x = math.log(max(nbytes, 1))
    if x <= xs[0]:
        return ys[0]
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return ys[-1]


def roof_time_s(flops: float, nbytes: float, peak_flops_per_s: float,
                bandwidth_bytes_per_s: float) -> float:
    """The roofline's time: the slower of doing the arithmetic and moving the bytes."""
    return max(flops / peak_flops_per_s, nbytes / bandwidth_bytes_per_s)


def roof_flops_per_s(intensity: float, peak_flops_per_s: float,
                     bandwidth_bytes_per_s: float) -> float:
    """Attainable FLOP/s at an arithmetic intensity (FLOPs per byte)."""
    return min(peak_flops_per_s, bandwidth_bytes_per_s * intensity)


def find_plateaus(sizes: Sequence[int], rates: Sequence[float],
                  tolerance: float = PLATEAU_TOLERANCE) -> tuple[Plateau, ...]:
    """Plateaus of a bandwidth curve (sizes increasing). Walk the points; a point within
    `tolerance` of the current run's median joins it, otherwise it starts a new run. Runs of one
    point are transitions between levels and are dropped (unless the curve is one point), as are
    edge points further than TRIM_TOLERANCE from the rest of their run. The
    last plateau is DRAM; those before it cache1, cache2, ... in order (a level whose rate one
    thread cannot tell from the next merges with it). O(points^2), points ~ 20."""
    runs: list[list[int]] = []
    for i, r in enumerate(rates):
        if runs and _within(r, _median([rates[j] for j in runs[-1]]), tolerance):
            runs[-1].append(i)
        else:
            runs.append([i])
    runs = [_trim(run, rates) for run in runs]
    kept = [run for run in runs if len(run) > 1] or runs[-1:]
    names = [f"cache{k + 1}" for k in range(len(kept) - 1)] + ["DRAM"]
    return tuple(Plateau(name, int(sizes[run[0]]), int(sizes[run[-1]]),
                         _median([rates[j] for j in run]))
                 for name, run in zip(names, kept))


def _trim(run: list[int], rates: Sequence[float]) -> list[int]:
    """A run's first and last points, dropped while they stray more than TRIM_TOLERANCE from
    the median of the rest: the edges of a transition that walked into the plateau."""
    while len(run) > 2 and not _within(rates[run[0]], _median([rates[j] for j in run[1:]]),
                                       TRIM_TOLERANCE):
        run = run[1:]
    while len(run) > 2 and not _within(rates[run[-1]], _median([rates[j] for j in run[:-1]]),
                                       TRIM_TOLERANCE):
        run = run[:-1]
    return run


def _within(r: float, ref: float, tolerance: float) -> bool:
    return ref / tolerance <= r <= ref * tolerance


def _median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
