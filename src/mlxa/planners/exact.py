"""Exact planning: the smallest arena, or the best plan found and a proven bound when time runs out.

Algorithm. Start from the best greedy plan, improved by ruin and recreate (iterated.py): that is
the incumbent, never worse than any heuristic. Then answer decision questions "is there a plan
within C?" for capacities C below the incumbent: first C = the lower bound (or the caller's
`target`), then by bisection between the proven bound and the incumbent. Each question goes to a
portfolio run on two cores at once: the canonical branch and bound of canonical.py (pure Python,
always there) in this thread, and CP-SAT (cpsat.py, if ortools is installed) in another thread;
the first definite answer stops the other. A plan found lowers the incumbent; a proof of
infeasibility raises the bound to C + 1; a timeout moves the next question above C.

Units. Sizes are rounded up to the alignment and divided by u, the gcd of the aligned sizes: every
packed plan puts buffers at sums of sizes, so nothing is lost, offsets stay aligned, and the
optimum is a multiple of u (which also sharpens the bound). Zero-size buffers sit at offset 0.

Invariant: `plan` is valid (checked by contract.validate up to MAX_SEARCH_BUFFERS buffers;
above, the plan is ruin and recreate's, valid by construction, and validating it is left to the
caller, as outcome.py does, rather than done twice)
and `bound_nbytes <= optimum <= plan.arena_nbytes`; `proven_optimal` iff the two are equal.
Exponential in the worst case; bounded by `time_limit_s` plus the cost of building the models.
Above `MAX_SEARCH_BUFFERS` buffers only the heuristic phase runs; CP-SAT joins the search up to
`MAX_CPSAT_BUFFERS` (above, building its model costs more than it brings), and only while the
sizes in units add up to at most `MAX_SEARCH_UNITS` (the search sums them in float64 and CP-SAT
in int64; both stay exact below it).

Interrupts. CP-SAT runs in a thread of its own; whatever ends the main thread's wait (an answer,
the deadline, KeyboardInterrupt or SIGTERM raised there) stops that search and joins the thread
before going on, so no solver thread outlives its question.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from mlxa.planners import cpsat
from mlxa.planners.canonical import Instance, SearchStopped, build_instance, decide, static_ranks
from mlxa.planners.contract import Buffer, Plan, lower_bound, validate
from mlxa.planners.iterated import Arrays, iterated_offsets

DEFAULT_TIME_LIMIT_S = 10.0
MAX_SEARCH_BUFFERS = 5000
MAX_CPSAT_BUFFERS = 1500
MAX_SEARCH_UNITS = 1 << 52


@dataclass(frozen=True)
class ExactResult:
    """The best plan found, the best proven lower bound on any plan's arena, and who found it
    ("iterated": greedy plus ruin and recreate, "branch-and-bound" or "cp-sat")."""

    plan: Plan
    proven_optimal: bool
    bound_nbytes: int
    engine: str


@dataclass
class _Decision:
    outcome: str  # "found", "infeasible" or "unknown"
    offsets: np.ndarray | None
    engine: str


def solve(buffers: Sequence[Buffer], alignment: int = 1,
          time_limit_s: float = DEFAULT_TIME_LIMIT_S, target: int | None = None,
          use_cpsat: bool = True, start: Plan | None = None,
          on_step: Callable[[], None] | None = None) -> ExactResult:
    """Plan within `time_limit_s`; stop early once optimal or once the arena is <= `target`.
    `start` (a valid plan, e.g. the best heuristic's) saves recomputing the greedy plans;
    `on_step` (progress) is called after the greedy start and after each decision question."""
    deadline = time.monotonic() + time_limit_s
    arr = Arrays.of(buffers, alignment)
    lb = lower_bound(buffers, alignment)
    heur_budget = time_limit_s * _heuristic_share(len(buffers))
    first = None if start is None else np.array(start.offsets, np.int64) // alignment
    offsets = iterated_offsets(arr, -(-lb // alignment), time.monotonic() + heur_budget,
                               start=first)
    step = on_step or (lambda: None)
    step()
    best = _Incumbent(buffers, alignment, offsets * alignment, "iterated")
    pos = np.flatnonzero(arr.size > 0)
    if best.arena <= lb or pos.size > MAX_SEARCH_BUFFERS:
        return best.result(lb)
    gcd = math.gcd(*(int(s) for s in arr.size[pos]))
    if int(arr.size[pos].sum()) // gcd > MAX_SEARCH_UNITS:
        return best.result(lb)
    unit = gcd * alignment
    inst = build_instance(arr.size[pos] // gcd, arr.start[pos], arr.end[pos])
    ranks = static_ranks(inst, arr.start[pos], arr.end[pos])
    lo, hi = -(-lb // unit), best.arena // unit  # proven bound; incumbent (units)
    goal = None if target is None else target // unit
    timed_out = -1  # the largest capacity whose question went unanswered
    while hi > lo and (goal is None or hi > goal) and time.monotonic() < deadline:
        cap = _next_capacity(lo, hi, goal, timed_out)
        if cap is None:
            break
        share = 1.0 if cap == hi - 1 == lo else 0.8 if cap == goal else 0.5
        answer = _decide(inst, cap, ranks, (deadline - time.monotonic()) * share, use_cpsat)
        step()
        if answer.outcome == "found":
            offsets = np.zeros(len(buffers), np.int64)
            assert answer.offsets is not None  # a 'found' answer carries its offsets
            offsets[pos] = answer.offsets * unit
            best = _Incumbent(buffers, alignment, offsets, answer.engine)
            hi = best.arena // unit
        elif answer.outcome == "infeasible":
            lo = cap + 1
        else:
            timed_out = max(timed_out, cap)
    return best.result(max(lb, lo * unit))


def _heuristic_share(n: int) -> float:
    """The share of the time limit for ruin and recreate (which also stops when it stalls):
    all of it above MAX_SEARCH_BUFFERS, 30% for a thousand buffers or more (local search does
    well there, exact search rarely finishes), 5% below (the search does better)."""
    return 1.0 if n > MAX_SEARCH_BUFFERS else 0.3 if n >= 1000 else 0.05


def exact(buffers: Sequence[Buffer], alignment: int = 1) -> Plan:
    """Contract planner: `solve` with the default time limit."""
    return solve(buffers, alignment).plan


def _next_capacity(lo: int, hi: int, goal: int | None, timed_out: int) -> int | None:
    """The next capacity to ask about: the goal first (or the bound), then bisection above the
    largest capacity that timed out; None when nothing is left between."""
    if timed_out < 0:
        return max(lo, min(goal, hi - 1)) if goal is not None else lo
    low = max(lo, timed_out + 1)
    return (low + hi - 1) // 2 if low <= hi - 1 else None


def _decide(inst: Instance, cap: int, ranks: list[np.ndarray], budget_s: float,
            use_cpsat: bool) -> _Decision:
    """Ask the branch and bound here and CP-SAT in a thread; the first definite answer wins."""
    deadline = time.monotonic() + budget_s
    helper: cpsat.CpSatDecision | None = None
    other: list[_Decision] = []
    done = threading.Event()  # set as the thread ends (its is_alive() can lie: `_join`)
    if use_cpsat and inst.n <= MAX_CPSAT_BUFFERS and cpsat.available():
        helper = cpsat.CpSatDecision(inst, cap, ranks[0])
        run = helper.run

        def work() -> None:
            try:
                outcome, offsets = run(deadline - time.monotonic())
                other.append(_Decision(outcome, offsets, "cp-sat"))
            finally:
                done.set()

        threading.Thread(target=work, name="mlxa-cpsat", daemon=True).start()
    try:
        mine = _decide_here(inst, cap, ranks, deadline, other)
        if helper is not None and mine.outcome == "unknown":
            _join(done)  # CP-SAT may still answer before its deadline
    finally:
        if helper is not None:
            _stop_and_join(helper, done)
    return other[0] if mine.outcome == "unknown" and other else mine


def _decide_here(inst: Instance, cap: int, ranks: list[np.ndarray], deadline: float,
                 other: list[_Decision]) -> _Decision:
    """The branch and bound's answer, "unknown" at the deadline or once CP-SAT has answered."""
    try:
        offsets = decide(inst, cap, ranks, deadline,
                         stop=lambda: bool(other) and other[0].outcome != "unknown")
    except SearchStopped:
        return _Decision("unknown", None, "branch-and-bound")
    return _Decision("found" if offsets is not None else "infeasible", offsets,
                     "branch-and-bound")


def _join(done: threading.Event) -> None:
    """Waits for the thread by its own event: in Python 3.11 an interrupt inside Thread.join
    can leave is_alive() False while the thread still runs."""
    while not done.wait(0.05):
        pass


def _stop_and_join(helper: cpsat.CpSatDecision, done: threading.Event) -> None:
    """Stop CP-SAT and wait for its thread, even when interrupted again meanwhile (then the
    interrupt is raised once the thread is gone). The stop is repeated while waiting: a stop
    that comes before the solver has started its search would otherwise be lost."""
    interrupted: BaseException | None = None
    while not done.is_set():
        try:
            helper.stop()
            done.wait(0.05)
        except KeyboardInterrupt as e:
            interrupted = e
    if interrupted is not None:
        raise interrupted


class _Incumbent:
    """A plan in bytes, validated on construction (up to MAX_SEARCH_BUFFERS buffers)."""

    def __init__(self, buffers: Sequence[Buffer], alignment: int, offsets: np.ndarray,
                 engine: str) -> None:
        sizes = [-(-b.nbytes // alignment) * alignment for b in buffers]
        self.arena = max((int(o) + s for o, s in zip(offsets, sizes)), default=0)
        self.plan = Plan(tuple(int(o) for o in offsets), self.arena, "exact")
        if len(buffers) <= MAX_SEARCH_BUFFERS:
            validate(buffers, self.plan, alignment)
        self.engine = engine

    def result(self, bound: int) -> ExactResult:
        return ExactResult(self.plan, self.arena <= bound, min(bound, self.arena), self.engine)
