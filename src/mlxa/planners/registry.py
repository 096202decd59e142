"""The planners mlxa knows, by name. `best` runs every heuristic and keeps the smallest arena.

HEURISTICS are the one-pass greedy planners (cheap, run everywhere for comparison). PLANNERS adds
`best`, `iterated` (greedy plus ruin and recreate, up to 2 s) and `exact` (the best plan within
10 s, proven optimal when it can be; see exact.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from mlxa.planners.contract import Buffer, Plan, Planner
from mlxa.planners.exact import exact
from mlxa.planners.greedy import first_fit, greedy_by_lifetime, greedy_by_size, no_reuse
from mlxa.planners.iterated import iterated

HEURISTICS: dict[str, Planner] = {
    "no_reuse": no_reuse,
    "first_fit": first_fit,
    "greedy_by_size": greedy_by_size,
    "greedy_by_lifetime": greedy_by_lifetime,
}


def best(buffers: Sequence[Buffer], alignment: int = 1) -> Plan:
    """The smallest arena of the heuristics (best_of)."""
    return best_of([planner(buffers, alignment) for planner in HEURISTICS.values()])


def best_of(plans: Sequence[Plan]) -> Plan:
    """The smallest arena. Ties go to a planner that reuses memory (no_reuse only wins alone:
    "no reuse needed" would misname why the arena is small), then to the earlier one."""
    return min(plans, key=lambda p: (p.arena_nbytes, p.strategy == "no_reuse"))


PLANNERS: dict[str, Planner] = {**HEURISTICS, "best": best, "iterated": iterated, "exact": exact}


def get_planner(name: str) -> Planner:
    try:
        return PLANNERS[name]
    except KeyError:
        raise ValueError(f"unknown planner {name!r}; known: {', '.join(PLANNERS)}") from None
