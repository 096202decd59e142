"""The planners mlxa knows, by name. `best` runs every heuristic and keeps the smallest arena."""

from __future__ import annotations

from typing import Sequence

from mlxa.planners.contract import Buffer, Plan, Planner
from mlxa.planners.greedy import first_fit, greedy_by_lifetime, greedy_by_size, no_reuse

HEURISTICS: dict[str, Planner] = {
    "no_reuse": no_reuse,
    "first_fit": first_fit,
    "greedy_by_size": greedy_by_size,
    "greedy_by_lifetime": greedy_by_lifetime,
}


def best(buffers: Sequence[Buffer], alignment: int = 1) -> Plan:
    """The smallest arena of the heuristics (ties go to the earlier one in HEURISTICS)."""
    plans = [planner(buffers, alignment) for planner in HEURISTICS.values()]
    return min(plans, key=lambda p: p.arena_nbytes)


PLANNERS: dict[str, Planner] = {**HEURISTICS, "best": best}


def get_planner(name: str) -> Planner:
    try:
        return PLANNERS[name]
    except KeyError:
        raise ValueError(f"unknown planner {name!r}; known: {', '.join(PLANNERS)}") from None
