"""Planner properties on random instances: every strategy's plan is valid; the exact planner is
never above a heuristic nor below the bound, and agrees with brute force on tiny instances; the
lower bound agrees with brute force; the decision search answers capacity questions correctly."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlxa.planners import cpsat, exact
from mlxa.planners.canonical import build_instance, decide, static_ranks
from mlxa.planners.contract import Buffer, lower_bound, validate
from mlxa.planners.greedy import first_fit, greedy_by_lifetime, greedy_by_size
from mlxa.planners.registry import HEURISTICS, PLANNERS

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def instances(draw, max_n: int = 12, max_size: int = 64, max_step: int = 12) -> list[Buffer]:
    n = draw(st.integers(1, max_n))
    out = []
    for i in range(n):
        start = draw(st.integers(0, max_step))
        length = draw(st.integers(1, max_step))
        out.append(Buffer(i, start, start + length, draw(st.integers(0, max_size))))
    return out


def brute_optimum(buffers: list[Buffer], alignment: int = 1) -> int:
    """The smallest arena by exhaustive search over offsets (multiples of the alignment)."""
    sizes = [-(-b.nbytes // alignment) for b in buffers]
    order = sorted(range(len(buffers)), key=lambda i: -sizes[i])
    best = [sum(sizes)]
    offsets = [0] * len(buffers)

    def place(k: int, top: int) -> None:
        if top >= best[0]:
            return
        if k == len(order):
            best[0] = top
            return
        i = order[k]
        if sizes[i] == 0:
            place(k + 1, top)
            return
        for off in range(best[0] - sizes[i]):
            if all(not (buffers[i].overlaps(buffers[j]) and sizes[j] and sizes[i])
                   or off + sizes[i] <= offsets[j] or offsets[j] + sizes[j] <= off
                   for j in order[:k]):
                offsets[i] = off
                place(k + 1, max(top, off + sizes[i]))

    place(0, 0)
    return best[0] * alignment


@FAST
@given(instances(), st.sampled_from([1, 4, 16]))
def test_every_strategy_makes_valid_plans(buffers: list[Buffer], alignment: int) -> None:
    for name, planner in PLANNERS.items():
        if name == "exact":
            plan = exact.solve(buffers, alignment, time_limit_s=2.0).plan
        elif name == "iterated":
            plan = planner(buffers, alignment, 0.2)  # type: ignore[call-arg]
        else:
            plan = planner(buffers, alignment)
        validate(buffers, plan, alignment)


@FAST
@given(instances(), st.sampled_from([1, 8]))
def test_exact_between_bound_and_every_heuristic(buffers: list[Buffer], alignment: int) -> None:
    result = exact.solve(buffers, alignment, time_limit_s=2.0)
    arena = result.plan.arena_nbytes
    assert lower_bound(buffers, alignment) <= result.bound_nbytes <= arena
    for planner in HEURISTICS.values():
        assert arena <= planner(buffers, alignment).arena_nbytes
    assert result.proven_optimal == (result.bound_nbytes == arena)


@settings(max_examples=60, deadline=None)
@given(instances(max_n=6, max_size=6, max_step=6), st.booleans())
def test_exact_matches_brute_force(buffers: list[Buffer], use_cpsat: bool) -> None:
    result = exact.solve(buffers, 1, time_limit_s=5.0, use_cpsat=use_cpsat)
    assert result.proven_optimal
    assert result.plan.arena_nbytes == brute_optimum(buffers)


@settings(max_examples=40, deadline=None)
@given(instances(max_n=6, max_size=24, max_step=6), st.sampled_from([4, 8]))
def test_exact_matches_brute_force_aligned(buffers: list[Buffer], alignment: int) -> None:
    result = exact.solve(buffers, alignment, time_limit_s=5.0, use_cpsat=False)
    assert result.plan.arena_nbytes == brute_optimum(buffers, alignment)


@settings(max_examples=100, deadline=None)
@given(instances(max_n=10, max_size=50, max_step=8), st.sampled_from([1, 3, 8]))
def test_lower_bound_is_the_most_bytes_alive(buffers: list[Buffer], alignment: int) -> None:
    steps = range(max(b.end for b in buffers) + 1)
    brute = max(sum(-(-b.nbytes // alignment) * alignment for b in buffers
                    if b.start <= t < b.end) for t in steps)
    assert lower_bound(buffers, alignment) == brute


def instance_arrays(buffers: list[Buffer]):
    size = np.array([b.nbytes for b in buffers], np.int64)
    start = np.array([b.start for b in buffers], np.int64)
    end = np.array([b.end for b in buffers], np.int64)
    return size, start, end, build_instance(size, start, end)


@settings(max_examples=40, deadline=None)
@given(instances(max_n=7, max_size=8, max_step=6))
def test_decision_search_answers_capacity_questions(buffers: list[Buffer]) -> None:
    positive = [b for b in buffers if b.nbytes]
    if not positive:
        return
    optimum = brute_optimum(positive)
    size, start, end, inst = instance_arrays(positive)
    ranks = static_ranks(inst, start, end)
    deadline = time.monotonic() + 10
    assert decide(inst, optimum - 1, ranks, deadline) is None
    offsets = decide(inst, optimum, ranks, deadline)
    assert offsets is not None and int((offsets + size).max()) <= optimum


@pytest.mark.skipif(not cpsat.available(), reason="ortools not installed")
@settings(max_examples=25, deadline=None)
@given(instances(max_n=7, max_size=8, max_step=6))
def test_cpsat_answers_capacity_questions(buffers: list[Buffer]) -> None:
    positive = [b for b in buffers if b.nbytes]
    if not positive:
        return
    optimum = brute_optimum(positive)
    size, start, end, inst = instance_arrays(positive)
    rank = static_ranks(inst, start, end)[0]
    assert cpsat.CpSatDecision(inst, optimum - 1, rank).run(10)[0] == "infeasible"
    outcome, offsets = cpsat.CpSatDecision(inst, optimum, rank).run(10)
    assert outcome == "found" and offsets is not None
    assert int((offsets + size).max()) <= optimum


def test_exact_improves_on_greedy_and_proves_it() -> None:
    rows = [(3, 4, 128), (0, 3, 96), (5, 6, 16), (7, 11, 48), (4, 8, 64), (1, 7, 96),
            (2, 3, 64), (0, 5, 64), (1, 6, 112), (5, 11, 80), (2, 6, 96)]
    buffers = [Buffer(i, s, e, z) for i, (s, e, z) in enumerate(rows)]
    greedy = min(p(buffers, 1).arena_nbytes for p in HEURISTICS.values())
    result = exact.solve(buffers, 1, time_limit_s=5.0, use_cpsat=False)
    assert result.plan.arena_nbytes < greedy
    assert result.proven_optimal and result.engine == "branch-and-bound"


def test_exact_stops_at_target_and_without_ortools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpsat, "available", lambda: False)
    buffers = [Buffer(i, i % 5, i % 5 + 3 + i % 4, 16 * (1 + i * 7 % 11)) for i in range(40)]
    loose = exact.solve(buffers, 1, time_limit_s=5.0, target=10**9)
    assert loose.plan.arena_nbytes <= 10**9
    validate(buffers, loose.plan)
    tight = exact.solve(buffers, 1, time_limit_s=5.0)
    assert tight.plan.arena_nbytes <= loose.plan.arena_nbytes


def test_exact_falls_back_to_heuristic_on_large_instances(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exact, "MAX_SEARCH_BUFFERS", 5)
    buffers = [Buffer(i, i, i + 4, 8 + i % 3) for i in range(30)]
    result = exact.solve(buffers, 1, time_limit_s=0.5)
    validate(buffers, result.plan)
    assert result.engine == "iterated"
    assert result.bound_nbytes == lower_bound(buffers)


def test_exact_on_empty_and_zero_size_instances() -> None:
    assert exact.solve([], 1, 1.0).plan.arena_nbytes == 0
    zeros = [Buffer(0, 0, 3, 0), Buffer(1, 1, 2, 0)]
    result = exact.solve(zeros, 8, 1.0)
    assert result.plan.arena_nbytes == 0 and result.proven_optimal


@FAST
@given(instances(max_n=30, max_size=200, max_step=20), st.sampled_from([1, 4]))
def test_fast_placement_equals_greedy_planners(buffers: list[Buffer], alignment: int) -> None:
    from mlxa.planners.iterated import Arrays, greedy_plans

    fast = greedy_plans(Arrays.of(buffers, alignment))
    for name, ref in (("greedy_by_size", greedy_by_size), ("greedy_by_lifetime",
                      greedy_by_lifetime), ("first_fit", first_fit)):
        plan = ref(buffers, alignment)
        mine = [int(o) * alignment for o, b in zip(fast[name], buffers) if b.nbytes]
        assert mine == [o for o, b in zip(plan.offsets, buffers) if b.nbytes], name


@settings(max_examples=300, deadline=None)
@given(instances(max_n=8, max_size=6, max_step=6),
       st.lists(st.integers(0, 10), min_size=8, max_size=8), st.integers(0, 2))
def test_validate_agrees_with_a_pairwise_check(buffers: list[Buffer], offsets: list[int],
                                               slack: int) -> None:
    """The sweep's verdict against the definition, pair by pair."""
    from mlxa.planners.contract import Plan, PlanError

    offs = tuple(offsets[:len(buffers)])
    arena = max(o + b.nbytes for o, b in zip(offs, buffers)) + slack - 1
    plan = Plan(offs, arena, "x")
    pairs_ok = all(not (a.overlaps(b) and a.nbytes and b.nbytes
                        and oa < ob + b.nbytes and ob < oa + a.nbytes)
                   for i, (a, oa) in enumerate(zip(buffers, offs))
                   for b, ob in list(zip(buffers, offs))[i + 1:])
    expected = pairs_ok and arena >= max(o + b.nbytes for o, b in zip(offs, buffers)) \
        and arena >= lower_bound(buffers)
    try:
        validate(buffers, plan)
        verdict = True
    except PlanError:
        verdict = False
    assert verdict == expected
