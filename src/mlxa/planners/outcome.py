"""Planning one instance with a named strategy, or with `auto`, and the outcome as data.

`auto` runs the greedy heuristics (fast equivalents, iterated.greedy_plans), then the exact
planner from the best of them for the rest of the time limit, and keeps the smallest arena (ties
go to the heuristic, the simpler plan). Every candidate plan is checked by contract.validate; a
plan that fails is a bug and raises MlxaError naming the strategy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mlxa.errors import MlxaError
from mlxa.planners import exact as exact_mod
from mlxa.planners.contract import Buffer, Plan, PlanError, lower_bound, validate
from mlxa.planners.greedy import no_reuse
from mlxa.planners.iterated import Arrays, greedy_plans, iterated
from mlxa.planners.registry import PLANNERS

AUTO = "auto"


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
                  use_cpsat: bool = True) -> PlanOutcome:
    """Plan `buffers` with `strategy`; `clock=None` leaves timing out of the outcome;
    `use_cpsat=False` keeps the exact planner to its own (deterministic) search."""
    t0 = clock() if clock else 0.0
    lb = lower_bound(buffers, alignment)
    if strategy == AUTO:
        out = _auto(buffers, alignment, time_limit_s, target, lb, use_cpsat)
    elif strategy == "exact":
        out = _exact(buffers, alignment, time_limit_s, target, None, {}, use_cpsat)
    else:
        planner = PLANNERS[strategy]
        plan = (iterated(buffers, alignment, time_limit_s) if strategy == "iterated"
                else planner(buffers, alignment))
        out = (plan, strategy, "", plan.arena_nbytes <= lb, lb, {strategy: plan.arena_nbytes})
    plan, won, engine, proven, bound, candidates = out
    _check(buffers, plan, alignment, won)
    return PlanOutcome(source, len(buffers), alignment, lb, plan, won, engine, proven, bound,
                       time_limit_s, (clock() - t0) if clock else None, candidates)


_Result = tuple[Plan, str, str, bool, int, dict[str, int]]


def _auto(buffers: Sequence[Buffer], alignment: int, time_limit_s: float, target: int | None,
          lb: int, use_cpsat: bool) -> _Result:
    deadline = time.monotonic() + time_limit_s
    arr = Arrays.of(buffers, alignment)
    plans = {"no_reuse": no_reuse(buffers, alignment)}
    for name, offsets in greedy_plans(arr).items():
        offsets = offsets * alignment
        arena = int((offsets + arr.size * alignment).max()) if offsets.size else 0
        plans[name] = Plan(tuple(int(o) for o in offsets), arena, name)
    for name, plan in plans.items():
        _check(buffers, plan, alignment, name)
    candidates = {name: p.arena_nbytes for name, p in plans.items()}
    best = min(plans.values(), key=lambda p: p.arena_nbytes)
    if best.arena_nbytes <= lb or (target is not None and best.arena_nbytes <= target):
        return best, best.strategy, "", best.arena_nbytes <= lb, lb, candidates
    remaining = max(0.1, deadline - time.monotonic())
    return _exact(buffers, alignment, remaining, target, best, candidates, use_cpsat)


def _exact(buffers: Sequence[Buffer], alignment: int, time_limit_s: float, target: int | None,
           start: Plan | None, candidates: dict[str, int], use_cpsat: bool) -> _Result:
    result = exact_mod.solve(buffers, alignment, time_limit_s, target, use_cpsat, start)
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
