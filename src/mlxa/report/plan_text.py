"""Renderers of a planning outcome (planners/outcome.py): a dict with units in its keys, JSON
text, and the console text of `mlxa plan`. Pure functions of the data."""

from __future__ import annotations

import json
from typing import Any

from mlxa.planners.outcome import PlanOutcome
from mlxa.units import format_nbytes

SCHEMA = "mlxa.plan/1"


def outcome_dict(out: PlanOutcome) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "file": out.source,
        "buffers": out.buffers,
        "alignment_nbytes": out.alignment,
        "arena_nbytes": out.arena_nbytes,
        "lower_bound_nbytes": out.lower_bound_nbytes,
        "ratio": round(out.ratio, 6),
        "strategy": out.strategy,
        "engine": out.engine or None,
        "proven_optimal": out.proven_optimal,
        "bound_nbytes": out.bound_nbytes,
        "time_s": None if out.time_s is None else round(out.time_s, 3),
        "time_limit_s": out.time_limit_s,
        "candidates_arena_nbytes": dict(out.candidates),
    }


def render_plan_json(out: PlanOutcome) -> str:
    return json.dumps(outcome_dict(out), indent=2) + "\n"


def render_plan_text(out: PlanOutcome) -> str:
    strategy = out.strategy + (f" (found by {out.engine})" if out.engine else "")
    lines = [
        f"instance     {out.source}: {out.buffers:,} buffers, alignment {out.alignment}",
        f"arena        {_bytes(out.arena_nbytes)}",
        f"lower bound  {_bytes(out.lower_bound_nbytes)}, the most alive at one step",
        f"ratio        {out.ratio:.4f}",
        f"strategy     {strategy}",
        f"optimal      {_optimality(out)}",
    ]
    if out.time_s is not None:
        lines.append(f"time         {out.time_s:.2f} s (limit {out.time_limit_s:g} s)")
    if len(out.candidates) > 1:
        lines += ["", f"  {'tried':<20} {'arena (bytes)':>15} {'ratio':>8}"]
        lb = out.lower_bound_nbytes or 1
        for name, arena in sorted(out.candidates.items(), key=lambda kv: (kv[1], kv[0])):
            lines.append(f"  {name:<20} {arena:>15,} {arena / lb:>8.4f}")
    return "\n".join(lines) + "\n"


def _optimality(out: PlanOutcome) -> str:
    if out.arena_nbytes <= out.lower_bound_nbytes:
        return "yes (arena = lower bound)"
    if out.proven_optimal:
        return "yes (proven by search: no smaller arena exists)"
    gap = out.arena_nbytes / out.bound_nbytes - 1 if out.bound_nbytes else 0.0
    return f"not proven; best proven bound {out.bound_nbytes:,} bytes (gap {gap:.2%})"


def _bytes(n: int) -> str:
    return f"{n:,} bytes" + (f" ({format_nbytes(n)})" if n >= 1024 else "")
