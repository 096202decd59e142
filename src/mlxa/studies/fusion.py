"""The fusion case study: elementwise chains run eager and compiled by several engines, at
working sets from L1 to DRAM, against this machine's copy bandwidth.

Three chains of rising complexity (bias + ReLU, Swish, tanh-GELU) and any user chain
(studies/expr.py) are run by every backend (studies/fusion_backends.py) at each size. x is
(rows, 1024) float32 and b a (1024,) bias. A chain's minimum traffic is one read of x (and b when
used) and one write of the result: what a perfectly fused kernel moves. Its achieved bandwidth is
that traffic over the measured time, and its fraction of copy is that rate over a ufunc copy's
(`np.multiply(x, 1, out=y)`) at the same size, timed in the same rounds: backends and the copy take
turns trial by trial, so load that arrives mid-run lands on all of them. A second copy into a result
allocated per call (`np.multiply(x, 1)`) shows what allocating backends pay at large sizes, where
each call's result comes from fresh pages that fault on first write.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlxa.budget import check_fits
from mlxa.ir.graph import TensorType
from mlxa.ops import get_op
from mlxa.profile.spread import Spread, spread_of
from mlxa.report.progress import Progress, no_progress
from mlxa.result import Versioned
from mlxa.studies.expr import Call, Expr, Var, parse
from mlxa.studies.fusion_backends import BACKENDS, Prepared, Unavailable, evaluate

SCHEMA = "mlxa.fusion/1"
COLS = 1024
GELU_TANH = "x * (1 + tanh(0.7978845608 * (x + 0.044715 * x * x * x))) * 0.5"
CHAINS = (("low", "bias + ReLU", "relu(x + b)"),
          ("medium", "Swish", "x * sigmoid(x)"),
          ("high", "tanh-GELU", GELU_TANH))
DEFAULT_SIZES = (16 << 10, 256 << 10, 4 << 20, 64 << 20)  # bytes of x
PAIRS = (("numpy", "mlxa"), ("numpy", "xla"), ("torch", "inductor"), ("numpy", "ort"))
ERROR_LIMIT = 1e-3  # relative to the output's scale: above, the backend computed something else


@dataclass(frozen=True)
class Cell:
    """One backend at one size: seconds per call, kernels it ran, its error against float64."""

    backend: str
    kind: str  # "eager" or "jit"
    time: Spread
    kernels: int | None
    max_error: float


@dataclass(frozen=True)
class SizeRun:
    x_nbytes: int
    traffic_nbytes: int  # the chain's minimum traffic at this size
    copy: Spread  # np.multiply(x, 1, out=y), moving 2 x x_nbytes
    copy_alloc: Spread  # np.multiply(x, 1): the same copy into a result allocated per call
    cells: tuple[Cell, ...]

    @property
    def copy_bytes_per_s(self) -> float:
        return 2 * self.x_nbytes / self.copy.median_s

    @property
    def copy_best_bytes_per_s(self) -> float:
        return 2 * self.x_nbytes / self.copy.best_s

    @property
    def copy_alloc_bytes_per_s(self) -> float:
        """What a backend that allocates its result on every call can reach at best: large
        results come from fresh pages (mmap), and the first write to each page faults."""
        return 2 * self.x_nbytes / self.copy_alloc.median_s

    def bytes_per_s(self, cell: Cell) -> float:
        return self.traffic_nbytes / cell.time.median_s

    def copy_fraction(self, cell: Cell) -> float:
        return self.bytes_per_s(cell) / self.copy_bytes_per_s

    def cell(self, backend: str) -> Cell | None:
        return next((c for c in self.cells if c.backend == backend), None)

    def ratio(self, eager: str, jit: str) -> float | None:
        """eager time / JIT time (medians): how much faster the compiled chain runs."""
        e, j = self.cell(eager), self.cell(jit)
        return e.time.median_s / j.time.median_s if e and j else None


@dataclass(frozen=True)
class ChainRun:
    name: str
    label: str
    expr: str
    flops_per_element: int
    sizes: tuple[SizeRun, ...]

    @property
    def intensity_flops_per_byte(self) -> float:
        """FLOPs per byte of minimum traffic (8 bytes per element: one read, one write)."""
        return self.flops_per_element / 8.0


@dataclass(frozen=True)
class Skip:
    backend: str
    chain: str
    note: str


@dataclass(frozen=True)
class FusionResult(Versioned):
    chains: tuple[ChainRun, ...]
    threads: int
    backends: tuple[str, ...]
    skipped: tuple[Skip, ...]
    ceilings_fingerprint: str
    meta: dict[str, Any]
    warnings: tuple[str, ...] = ()
    schema: str = SCHEMA



@dataclass(frozen=True)
class StudyConfig:
    sizes: tuple[int, ...] = DEFAULT_SIZES
    backends: tuple[str, ...] = tuple(BACKENDS)
    threads: int = 1
    min_trials: int = 3
    size_budget_s: float = 1.0  # per chain and size, every backend together
    max_trials: int = 100


def flops_per_element(e: Expr) -> int:
    one = TensorType.of((1,))
    if not isinstance(e, Call):
        return 0
    op = get_op(e.op)
    args = [one] * len(e.args)
    return int(op.flops(args, [one], {})) + sum(flops_per_element(a) for a in e.args)


def uses_b(e: Expr) -> bool:
    return (isinstance(e, Var) and e.name == "b") or (
        isinstance(e, Call) and any(uses_b(a) for a in e.args))


def run_study(chains: Sequence[tuple[str, str, str]], config: StudyConfig,
              clock: Callable[[], float] = time.perf_counter,
              progress: Progress = no_progress
              ) -> tuple[tuple[ChainRun, ...], tuple[Skip, ...]]:
    """Every chain at every size; `progress` hears of each (chain, size) cell, between them."""
    runs: list[ChainRun] = []
    total = len(chains) * len(config.sizes)
    progress("fusion cells", 0, total)
    skipped: list[Skip] = []
    for name, label, text in chains:
        e = parse(text)
        states: dict[str, dict[str, Any]] = {k: {} for k in config.backends}
        sizes = []
        for nbytes in config.sizes:
            size_run, skips = _run_size(e, nbytes, config, states, clock)
            sizes.append(size_run)
            progress("fusion cells", len(runs) * len(config.sizes) + len(sizes), total)
            skipped += [Skip(k, name, note) for k, note in skips
                        if not any(s.backend == k and s.chain == name for s in skipped)]
        runs.append(ChainRun(name, label, text, flops_per_element(e), tuple(sizes)))
    return tuple(runs), tuple(skipped)


def _run_size(e: Expr, x_nbytes: int, config: StudyConfig, states: dict[str, dict[str, Any]],
              clock: Callable[[], float]) -> tuple[SizeRun, list[tuple[str, str]]]:
    rows = max(1, x_nbytes // (4 * COLS))
    check_fits(f"the fusion study at {rows} x {COLS} float32", 16 * rows * COLS * 4)
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((rows, COLS), dtype=np.float32) * 2).astype(np.float32)
    b = rng.uniform(-0.5, 0.5, COLS).astype(np.float32)
    reference = _reference(e, x, b)
    prepared: dict[str, Prepared] = {}
    skips = []
    for key in config.backends:
        try:
            prepared[key] = BACKENDS[key][1](e, x, b, config.threads, states[key])
            prepared[key].run()
        except Unavailable as why:
            skips.append((key, str(why)))
        except Exception as err:  # a backend's own failure is a note on that backend, not ours
            prepared.pop(key, None)
            skips.append((key, f"failed: {type(err).__name__}: {' '.join(str(err).split())[:160]}"))
    y = np.empty_like(x)
    one = np.float32(1.0)
    calls = {"copy": lambda: np.multiply(x, one, out=y), "copy_alloc": lambda: np.multiply(x, one),
             **{k: p.run for k, p in prepared.items()}}
    times = time_round_robin(calls, config.min_trials, config.size_budget_s, config.max_trials,
                             clock)
    cells = tuple(Cell(k, BACKENDS[k][0], times[k], p.kernels, _error(p.result(), reference))
                  for k, p in prepared.items())
    traffic = 2 * x.nbytes + (b.nbytes if uses_b(e) else 0)
    return SizeRun(x.nbytes, traffic, times["copy"], times["copy_alloc"], cells), skips


def time_round_robin(calls: dict[str, Callable[[], Any]], min_trials: int, budget_s: float,
                     max_trials: int, clock: Callable[[], float]) -> dict[str, Spread]:
    """Every call once per round, rounds until `budget_s` (at least `min_trials` rounds)."""
    samples: dict[str, list[float]] = {k: [] for k in calls}
    start = clock()
    rounds = 0
    while rounds < min_trials or (clock() - start < budget_s and rounds < max_trials):
        for key, fn in calls.items():
            t0 = clock()
            fn()
            samples[key].append(clock() - t0)
        rounds += 1
    return {k: spread_of(v) for k, v in samples.items()}


def _reference(e: Expr, x: np.ndarray, b: np.ndarray) -> np.ndarray:
    from mlxa.studies.fusion_backends import _np_fns

    fns, _ = _np_fns()
    with np.errstate(all="ignore"):
        return np.asarray(evaluate(e, {"x": x.astype(np.float64), "b": b.astype(np.float64)},
                                   fns, float), dtype=np.float64)


def _error(y: np.ndarray, reference: np.ndarray) -> float:
    finite = np.isfinite(reference)
    scale = float(np.max(np.abs(reference[finite]))) if finite.any() else 1.0
    with np.errstate(all="ignore"):
        diff = np.abs(y.astype(np.float64) - reference)[finite]
    return float(diff.max() / (scale or 1.0)) if diff.size else 0.0


def result_warnings(chains: Sequence[ChainRun], load: float | None,
                    cpus: int) -> tuple[str, ...]:
    warnings = []
    if load is not None and load > 0.75 * cpus:
        warnings.append(f"the machine is busy (load average {load:.1f} on {cpus} CPUs): "
                        "rates may be low and ratios noisy")
    noisy = [(c.name, s.x_nbytes, cell.backend) for c in chains for s in c.sizes
             for cell in s.cells if cell.time.noisy]
    if noisy:
        warnings.append(f"{len(noisy)} of the timings are noisy (p90 > 1.5x p10)")
    for c in chains:
        for s in c.sizes:
            for cell in s.cells:
                if cell.max_error > ERROR_LIMIT:
                    warnings.append(f"{cell.backend} on {c.name} differs from float64 by "
                                    f"{cell.max_error:.1e} of the output's scale")
    return tuple(warnings)
