"""The same decision question as canonical.py, asked of OR-Tools' CP-SAT (optional dependency).

Model: one offset variable per buffer in [0, capacity - size] and one fixed-size interval on it;
one NoOverlap constraint per *maximal* step section (a section where some buffer starts and some
buffer ends next: every other section's live set is a subset of a neighbour's, so its constraint is
implied). This is the time-sliced form of a 2-D no-overlap with fixed time intervals; CP-SAT's
1-D NoOverlap propagation (edge finding, energy) and clause learning make it a good complement to
the branch and bound, which has no learning and thrashes on some instances. The search branches
on the lowest possible offset first (bottom-left), in the branch and bound's static order.

Runs single-threaded, so it can share a two-core machine with the Python search; `stop()` may be
called from another thread (exact.py calls it when the main thread is interrupted).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from mlxa.planners.canonical import Instance


def available() -> bool:
    try:
        import ortools.sat.python.cp_model  # noqa: F401
    except ImportError:
        return False
    return True


class CpSatDecision:
    """One CP-SAT run on `inst` for `capacity` units; build, then `run` (blocking)."""

    def __init__(self, inst: Instance, capacity: int, rank: np.ndarray, seed: int = 0) -> None:
        from ortools.sat.python import cp_model

        self._cp = cp_model
        self.inst, self.capacity = inst, capacity
        self.model = cp_model.CpModel()
        self.solver = cp_model.CpSolver()
        self.solver.parameters.num_workers = 1
        self.solver.parameters.random_seed = seed
        # CP-SAT's own SIGINT handler would replace Python's while it searches (and aborts the
        # process when it fires in this thread setup): the main thread gets the interrupt and
        # stops this search through stop() instead.
        self.solver.parameters.catch_sigint_signal = False
        self._lock = threading.Lock()
        self._stopped = False
        self.y = self._build(rank)

    def _build(self, rank: np.ndarray) -> list[Any]:
        inst, m, cap = self.inst, self.model, self.capacity
        y = [m.new_int_var(0, max(0, cap - int(s)), f"y{i}") for i, s in enumerate(inst.size)]
        iv = [m.new_fixed_size_interval_var(v, int(s), f"b{i}")
              for i, (v, s) in enumerate(zip(y, inst.size))]
        n_sec = inst.total.size
        starts = np.zeros(n_sec + 1, bool)
        starts[inst.lo] = True
        ends = np.zeros(n_sec + 1, bool)
        ends[inst.hi] = True
        for s in np.flatnonzero(starts[:n_sec] & ends[1:]):
            members = inst.sec_ind[inst.sec_ptr[s]:inst.sec_ptr[s + 1]]
            members = members[members < inst.n]
            if members.size > 1:
                m.add_no_overlap([iv[i] for i in members])
        order = np.argsort(rank, kind="stable")
        m.add_decision_strategy([y[i] for i in order], self._cp.CHOOSE_LOWEST_MIN,
                                self._cp.SELECT_MIN_VALUE)
        return y

    def run(self, time_limit_s: float) -> tuple[str, np.ndarray | None]:
        """("found", offsets), ("infeasible", None) or ("unknown", None)."""
        with self._lock:
            if self._stopped:
                return "unknown", None
        if self.inst.n and int(self.inst.size.max()) > self.capacity:
            return "infeasible", None
        self.solver.parameters.max_time_in_seconds = max(0.01, time_limit_s)
        status = self.solver.solve(self.model)
        if status in (self._cp.OPTIMAL, self._cp.FEASIBLE):
            return "found", np.array([self.solver.value(v) for v in self.y], np.int64)
        if status == self._cp.INFEASIBLE:
            return "infeasible", None
        return "unknown", None

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        self.solver.stop_search()
