"""Planning one instance with a named strategy, or with `auto`, and the outcome as data.

`auto` runs the greedy heuristics (fast equivalents, iterated.greedy_plans), then the exact
planner from the best of them for the rest of the time limit, and keeps the smallest arena (ties
go to the heuristic, the simpler plan); the greedy plans get at most GREEDY_SHARE of the time
(those that do not finish in it are left out), so that large instances keep time to improve. The
plan returned is checked by contract.validate (and every candidate too, up to
VALIDATE_ALL_BUFFERS buffers); a plan that fails is a bug and raises MlxaError naming the
strategy.

The time limit bounds every strategy, the greedy ones included (each is O(n^2) in the worst
case): a named strategy that cannot finish in time is refused with UserInputError; `auto` keeps
what finished, and when not every greedy plan did, iterated.window_offsets (O(n log n)); no_reuse
always finishes. Part of the limit, RESERVE_S_PER_BUFFER a
buffer, is kept for validating the plan. Instances beyond int64's exact range (limits.py) are
refused before planning starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from mlxa.errors import MlxaError, UserInputError
from mlxa.planners import exact as exact_mod
from mlxa.planners.contract import Buffer, Plan, PlanError, lower_bound, validate
from mlxa.planners.greedy import no_reuse
from mlxa.planners.iterated import (
    GREEDY,
    Arrays,
    OutOfTime,
    arena_units,
    greedy_offsets,
    greedy_plans,
    iterated_offsets,
    jittered_offsets,
    no_reuse_offsets,
    window_offsets,
)
from mlxa.planners.limits import range_problem
from mlxa.planners.registry import HEURISTICS, PLANNERS, best_of
from mlxa.report.progress import Progress, no_progress

AUTO = "auto"
VALIDATE_ALL_BUFFERS = 5000
GREEDY_SHARE = 0.7  # of the time limit, at most, for auto's greedy plans; the rest improves
CANDIDATE_ORDER = ("no_reuse", "windows", "greedy_by_size", "greedy_by_lifetime", "greedy_by_area",
                   "first_fit")  # as they are listed in the outcome
JITTERED_STARTS = 6  # more starts for ruin and recreate on large instances, time allowing
RESERVE_S_PER_BUFFER = 1e-5  # validating a plan: measured 5 to 8 us a buffer, machine busy


@dataclass
class PlanOutcome:
    """What `mlxa plan` reports. `time_s` is None when timing is left out (reproducible output)."""

    source: str
    buffers: int
    alignment: int
    lower_bound_nbytes: int
    plan: Plan
    strategy: str  # the strategy that won
    engine: str  # for exact: "iterated", "branch-and-bound" or "cp-sat"; else ""
    proven_optimal: bool
    bound_nbytes: int  # best proven lower bound on any plan's arena
    time_limit_s: float
    time_s: float | None = None
    candidates: dict[str, int] = field(default_factory=dict)  # strategy -> arena bytes

    @property
    def arena_nbytes(self) -> int:
        return self.plan.arena_nbytes

    @property
    def ratio(self) -> float:
        return self.arena_nbytes / self.lower_bound_nbytes if self.lower_bound_nbytes else 1.0


def strategies() -> list[str]:
    return [AUTO, *PLANNERS]


def plan_instance(buffers: Sequence[Buffer], source: str, strategy: str = AUTO,
                  alignment: int = 1, time_limit_s: float = 10.0, target: int | None = None,
                  clock: Callable[[], float] | None = time.monotonic,
                  use_cpsat: bool = True, progress: Progress = no_progress) -> PlanOutcome:
    """Plan `buffers` with `strategy` within `time_limit_s`; `clock=None` leaves timing out of
    the outcome; `use_cpsat=False` keeps the exact planner to its own (deterministic) search.
    `progress` hears the seconds spent against the time limit (the estimate is the limit) at
    each step of the search, and the limit itself when planning ends."""
    t0 = clock() if clock else 0.0
    started = time.monotonic()

    def tick() -> None:
        progress("planning", min(time.monotonic() - started, time_limit_s), time_limit_s)

    tick()
    problem = range_problem(buffers, alignment)
    if problem is not None:
        raise UserInputError(f"{source}: {problem}")
    reserve_s = min(0.6 * time_limit_s, RESERVE_S_PER_BUFFER * len(buffers))
    limit = _Limit(time.monotonic() + time_limit_s - reserve_s, time_limit_s)
    lb = lower_bound(buffers, alignment)
    if strategy == AUTO:
        out = _auto(buffers, alignment, limit, target, lb, use_cpsat, tick)
    elif strategy == "exact":
        out = _exact(buffers, alignment, limit.left_s(), target, None, {}, use_cpsat, tick)
    else:
        plan = _named(buffers, strategy, alignment, limit, lb)
        out = (plan, strategy, "", plan.arena_nbytes <= lb, lb, {strategy: plan.arena_nbytes})
    plan, won, engine, proven, bound, candidates = out
    _check(buffers, plan, alignment, won)
    progress("planning", time_limit_s, time_limit_s)
    return PlanOutcome(source, len(buffers), alignment, lb, plan, won, engine, proven, bound,
                       time_limit_s, (clock() - t0) if clock else None, candidates)


_Result = tuple[Plan, str, str, bool, int, dict[str, int]]


@dataclass(frozen=True)
class _Limit:
    """The deadline of the search (monotonic seconds) and the time limit it came from."""

    deadline: float
    time_limit_s: float

    def left_s(self) -> float:
        return max(0.1, self.deadline - time.monotonic())


def _named(buffers: Sequence[Buffer], strategy: str, alignment: int, limit: _Limit,
           lb: int) -> Plan:
    """A named strategy's plan. The greedy ones run their fast equivalents (iterated.py), which
    give the same plans, under the deadline; UserInputError if one cannot finish in time."""
    if strategy == "no_reuse":
        return no_reuse(buffers, alignment)
    arr = Arrays.of(buffers, alignment, checked=True)
    if strategy == "iterated":
        offsets = iterated_offsets(arr, -(-lb // alignment), limit.deadline)
        return _plan(arr, offsets, alignment, "iterated")
    names = [n for n in HEURISTICS if n != "no_reuse"] if strategy == "best" else [strategy]
    plans = [no_reuse(buffers, alignment)] if strategy == "best" else []
    for name in names:
        try:
            plans.append(_plan(arr, greedy_offsets(arr, name, limit.deadline), alignment, name))
        except OutOfTime:
            raise UserInputError(
                f"strategy {strategy} cannot place {len(buffers):,} buffers within the time "
                f"limit of {limit.time_limit_s:g} s (greedy placement is O(n^2) in the worst "
                "case); raise --time-limit, or use --strategy auto") from None
    return best_of(plans)


def _plan(arr: Arrays, offsets: np.ndarray, alignment: int, strategy: str) -> Plan:
    return Plan(tuple(int(o) * alignment for o in offsets.tolist()),
                arena_units(arr, offsets) * alignment, strategy)


def _auto(buffers: Sequence[Buffer], alignment: int, limit: _Limit, target: int | None,
          lb: int, use_cpsat: bool, tick: Callable[[], None]) -> _Result:
    arr = Arrays.of(buffers, alignment, checked=True)
    units = {"no_reuse": no_reuse_offsets(arr)}
    greedy_deadline = time.monotonic() + GREEDY_SHARE * limit.time_limit_s
    units.update(greedy_plans(arr, min(limit.deadline, greedy_deadline)))
    tick()
    if len(units) <= len(GREEDY):  # time ran short: a quick plan far better than no reuse
        units["windows"] = window_offsets(arr)
    order = sorted(units, key=lambda n: CANDIDATE_ORDER.index(n) if n in CANDIDATE_ORDER else 9)
    candidates = {name: arena_units(arr, units[name]) * alignment for name in order}
    if len(buffers) <= VALIDATE_ALL_BUFFERS:
        for name in order:
            _check(buffers, _plan(arr, units[name], alignment, name), alignment, name)
    # registry.best_of's rule (smallest, no_reuse only alone, then the earlier), without
    # making a million-offset Plan of every candidate
    won = min(order, key=lambda n: (candidates[n], n == "no_reuse"))
    best = _plan(arr, units[won], alignment, won)
    if best.arena_nbytes <= lb or (target is not None and best.arena_nbytes <= target):
        return best, best.strategy, "", best.arena_nbytes <= lb, lb, candidates
    if int(np.count_nonzero(arr.size)) > exact_mod.MAX_SEARCH_BUFFERS:
        start = _best_start(arr, units[won], min(limit.deadline, greedy_deadline))
        return _improve_large(arr, start, best, alignment, limit, lb, candidates)
    return _exact(buffers, alignment, limit.left_s(), target, best, candidates, use_cpsat,
                  tick)


def _best_start(arr: Arrays, start: np.ndarray, deadline: float) -> np.ndarray:
    """`start` or the best of up to JITTERED_STARTS jittered greedy plans made by `deadline`
    (seeded: the same starts every run)."""
    rng = np.random.default_rng(0)
    best, arena = start, arena_units(arr, start)
    for _ in range(JITTERED_STARTS):
        try:
            offsets = jittered_offsets(arr, rng, deadline)
        except OutOfTime:
            break
        if arena_units(arr, offsets) < arena:
            best, arena = offsets, arena_units(arr, offsets)
    return best


def _improve_large(arr: Arrays, start: np.ndarray, best: Plan, alignment: int, limit: _Limit,
                   lb: int, candidates: dict[str, int]) -> _Result:
    """What exact.solve does above MAX_SEARCH_BUFFERS (ruin and recreate from a greedy plan,
    reported as exact found by iterated), here from the best start (_best_start) and until the
    deadline: not stopping when it stalls, as random large instances keep gaining slowly."""
    offsets = iterated_offsets(arr, -(-lb // alignment), limit.deadline, patience=10**9,
                               start=start, stall_share=None)
    found = _plan(arr, offsets, alignment, "exact")
    candidates = {**candidates, "exact": found.arena_nbytes}
    if best.arena_nbytes <= found.arena_nbytes:
        return best, best.strategy, "", best.arena_nbytes <= lb, lb, candidates
    return found, "exact", "iterated", found.arena_nbytes <= lb, lb, candidates


def _exact(buffers: Sequence[Buffer], alignment: int, time_limit_s: float, target: int | None,
           start: Plan | None, candidates: dict[str, int], use_cpsat: bool,
           tick: Callable[[], None]) -> _Result:
    result = exact_mod.solve(buffers, alignment, time_limit_s, target, use_cpsat, start, tick)
    candidates = {**candidates, "exact": result.plan.arena_nbytes}
    if start is not None and start.arena_nbytes <= result.plan.arena_nbytes:
        return (start, start.strategy, "", result.proven_optimal, result.bound_nbytes,
                candidates)
    return (result.plan, "exact", result.engine, result.proven_optimal, result.bound_nbytes,
            candidates)


def _check(buffers: Sequence[Buffer], plan: Plan, alignment: int, name: str) -> None:
    try:
        validate(buffers, plan, alignment)
    except PlanError as e:
        raise MlxaError(f"internal error: strategy {name} made an invalid plan: {e}") from e
