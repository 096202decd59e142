"""Measuring this machine's ceilings (machine/ceilings.py holds the data and the roofline).

- Bandwidth: copy (`np.multiply(a, 1, out=c)`: a ufunc copy, one read and one write per element,
  the store path every numpy kernel takes; `np.copyto` is memcpy, whose non-temporal stores beat
  any ufunc at DRAM sizes, and `np.positive` has no SIMD loop in numpy 2.4) and STREAM's
  triad (`np.multiply(b, s, out=a); np.add(a, c, out=a)`, counted as its minimum, 3 arrays) at
  working sets from L1 to well past the last-level cache, x2 per step. Each size repeats its
  call for a short budget and keeps every trial; the curve uses the best (as STREAM reports),
  the plateaus are read from that curve. numpy ufuncs run on one thread.
- Reread, at each size: a 1 MiB buffer read (`np.dot`, a vectorised BLAS read) right after
  that size's copy ran: the rate at which a weight comes back after a round of other memory
  (the roofline's far reads, analysis/reuse.py).
- FP32 peak: `np.matmul` of two square float32 matrices (BLAS, every thread it uses).
- INT8 peak where the CPU has VNNI or AMX: ONNX Runtime's MatMulInteger (uint8 x int8 -> int32),
  whose MLAS kernels use them.
- Theoretical FP32 peak: cores x GHz x SIMD lanes x FMA units x 2, from the CPU's flags.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mlxa.machine.ceilings import (
    BandwidthPoint,
    Ceilings,
    ComputePeak,
    TheoreticalPeak,
    find_plateaus,
)
from mlxa.machine.cpu import _cpuinfo_field, cpu_count, cpu_flags, load_average
from mlxa.profile.spread import time_trials
from mlxa.report.progress import Progress, no_progress

Clock = Callable[[], float]
REREAD_NBYTES = 1 << 20


@dataclass(frozen=True)
class ProbeConfig:
    """What to measure: working sets min_nbytes * 2^k up to max_nbytes; the matmul size; the
    time budget of each bandwidth size and of each peak."""

    min_nbytes: int = 16 << 10
    max_nbytes: int = 256 << 20
    size_budget_s: float = 0.25
    matmul_n: int = 2048
    peak_budget_s: float = 1.5
    int8_n: int = 1024
    min_trials: int = 3


QUICK = ProbeConfig(min_nbytes=16 << 10, max_nbytes=4 << 20, size_budget_s=0.01, matmul_n=128,
                    peak_budget_s=0.05, int8_n=64, min_trials=2)


def measure(config: ProbeConfig, fingerprint: str, machine: dict[str, object], threads: int,
            clock: Clock = time.perf_counter, progress: Progress = no_progress) -> Ceilings:
    """`progress` hears of each working set, the FP32 peak and the INT8 peak, between them."""
    t0 = clock()
    sets = working_sets(config)
    total = len(sets) + 2
    measured = []
    for ws in sets:
        measured.append(bandwidth_point(ws, config, clock))
        progress("machine probe", len(measured), total)
    points = tuple(measured)
    plateaus = find_plateaus([p.working_set_nbytes for p in points],
                             [p.copy_bytes_per_s for p in points])
    fp32 = fp32_peak(config, clock)
    progress("machine probe", total - 1, total)
    int8, note = int8_peak(config, threads, clock)
    progress("machine probe", total, total)
    warnings = noise_warnings(points, fp32)
    return Ceilings(fingerprint, machine, threads, points, plateaus, fp32,
                    theoretical_peak(threads), int8, note, clock() - t0,
                    _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), load_average(),
                    warnings)


def working_sets(config: ProbeConfig) -> list[int]:
    sizes, ws = [], config.min_nbytes
    while ws <= config.max_nbytes:
        sizes.append(ws)
        ws *= 2
    return sizes


def bandwidth_point(ws: int, config: ProbeConfig, clock: Clock) -> BandwidthPoint:
    n_copy = max(ws // 8, 16)  # two float32 arrays
    a, c = np.ones(n_copy, np.float32), np.empty(n_copy, np.float32)
    one = np.float32(1.0)
    copy = time_trials(lambda: np.multiply(a, one, out=c), config.min_trials,
                       config.size_budget_s, clock)
    n_triad = max(ws // 12, 16)  # three float32 arrays
    x, y, z = (np.ones(n_triad, np.float32) for _ in range(3))
    s = np.float32(3.0)

    def triad() -> None:
        np.multiply(y, s, out=x)
        np.add(x, z, out=x)

    triad_t = time_trials(triad, config.min_trials, config.size_budget_s, clock)
    r = np.ones(REREAD_NBYTES // 4, np.float32)
    reread = time_trials(lambda: np.dot(r, r), config.min_trials, config.size_budget_s, clock,
                         before=lambda: np.multiply(a, one, out=c))
    return BandwidthPoint(ws, copy, 2 * 4 * n_copy, triad_t, 3 * 4 * n_triad, reread,
                          REREAD_NBYTES)


def fp32_peak(config: ProbeConfig, clock: Clock) -> ComputePeak:
    n = config.matmul_n
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    np.matmul(a, b, out=c)  # warm-up: BLAS threads start, pages touched
    t = time_trials(lambda: np.matmul(a, b, out=c), config.min_trials, config.peak_budget_s,
                    clock)
    return ComputePeak(2 * n ** 3, t, f"numpy matmul float32 {n}x{n} @ {n}x{n} (BLAS)")


def int8_peak(config: ProbeConfig, threads: int,
              clock: Clock) -> tuple[ComputePeak | None, str]:
    """(peak, note): None with the reason where the CPU or the library is missing."""
    flags = cpu_flags()
    units = sorted(flags & {"avx512_vnni", "avx_vnni", "amx_int8", "avx_vnni_int8"})
    if not units:
        return None, "the CPU reports no VNNI or AMX: no INT8 dot-product instructions"
    try:
        from mlxa.machine.int8 import matmul_integer_session
    except ImportError:
        return None, "ONNX Runtime is not installed (pip install onnx onnxruntime)"
    n = config.int8_n
    run = matmul_integer_session(n, threads)
    run()
    t = time_trials(run, config.min_trials, config.peak_budget_s, clock)
    return ComputePeak(2 * n ** 3, t, f"ONNX Runtime MatMulInteger uint8 x int8 {n}x{n} "
                                      f"(CPU has {', '.join(units)}), {threads} threads"), ""


def theoretical_peak(threads: int) -> TheoreticalPeak:
    """The peak of the cores the measured peak may use: min(threads, CPUs)."""
    ghz, source = _ghz()
    flags = cpu_flags()
    lanes, units, assumption = _simd(flags)
    return TheoreticalPeak(min(threads, cpu_count()), ghz, source, lanes, units, assumption)


def _ghz() -> tuple[float, str]:
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", encoding="ascii") as f:
            return int(f.read().strip()) / 1e6, "cpufreq cpuinfo_max_freq (the boost clock)"
    except (OSError, ValueError):
        pass
    mhz = _cpuinfo_field("cpu MHz")
    try:
        return float(mhz) / 1e3, ("/proc/cpuinfo 'cpu MHz' (the clock the kernel reports; under "
                                  "a hypervisor often the base clock, not the boost)")
    except ValueError:
        return 1.0, "unknown (no cpufreq, no 'cpu MHz'): 1 GHz assumed"


def _simd(flags: frozenset[str]) -> tuple[int, int, str]:
    """(float32 lanes per FMA, FMA units per core, the assumption made)."""
    amd = "AuthenticAMD" in _cpuinfo_field("vendor_id")
    family = _cpuinfo_field("cpu family")
    units = 2 if "fma" in flags else 1
    if "avx512f" in flags:
        if amd and family in ("23", "25"):
            return 8, units, ("AVX-512 on AMD Zen 4 runs as two 256-bit halves: 8 lanes x 2 "
                              "FMA pipes")
        return 16, units, "AVX-512: 16 lanes, 2 FMA units (server cores; client cores have 1)"
    if "avx2" in flags or "avx" in flags:
        return 8, units, "AVX2: 8 lanes" + (", 2 FMA units" if units == 2 else ", no FMA")
    return 4, 1, "SSE: 4 lanes, no FMA"


def noise_warnings(points: tuple[BandwidthPoint, ...], fp32: ComputePeak) -> tuple[str, ...]:
    warnings = []
    noisy = [p for p in points if p.copy.noisy]
    if len(noisy) > len(points) // 3:
        warnings.append(f"bandwidth trials are noisy at {len(noisy)} of {len(points)} sizes "
                        "(p90 > 1.5x p10): the machine is busy; the curve keeps each size's best")
    if fp32.time.noisy:
        warnings.append(f"FP32 peak trials are noisy (p90 {fp32.time.spread_ratio:.1f}x p10)")
    load = load_average()
    if load is not None and load > 0.75 * cpu_count():
        warnings.append(f"the machine is busy (load average {load:.1f} on {cpu_count()} CPUs): "
                        "ceilings may be low")
    return tuple(warnings)
