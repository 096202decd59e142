"""Offset planning benchmark: every instance CSV of the shared planner set, plus two generated
instances of 20,000+ buffers, planned by `mlxa plan`'s auto strategy (greedy heuristics, then the
exact planner). Prints one row per instance: the lower bound, greedy best fit (the better of
largest-first and longest-lived-first, as TFLite/XLA), our arena, both ratios to the bound,
whether ours fits the instance's capacity (minimalloc: 1,048,576 bytes), the wall time of our
planning (heuristics included), the winning strategy and whether the plan is proven optimal.
A table, not a test: it asserts nothing.

    python benchmarks/planner.py [--dir DIR] [--only minimalloc_A,random_20k] [--time-limit S]
                                 [--optimize] [--no-cpsat] [--json]

MiniMalloc's instances are decision problems (fit within the capacity in the file's name); by
default the capacity is passed as the target, so the search stops once it fits. --optimize drops
the target: the search then minimises the arena until proven optimal or out of time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mlxa.planners.contract import Buffer, lower_bound
from mlxa.planners.instance import random_instance, read_instance, training_instance
from mlxa.planners.iterated import Arrays, greedy_plans
from mlxa.planners.outcome import plan_instance

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared/bench/planner"
MINIMALLOC_CAPACITY = 1_048_576
LIMITS_S = {"minimalloc": 60.0}  # others: 10 s


def instances(directory: Path) -> dict[str, tuple[list[Buffer], int | None]]:
    """name -> (buffers, capacity or None)."""
    out: dict[str, tuple[list[Buffer], int | None]] = {}
    for path in sorted(directory.glob("*.csv")):
        cap = MINIMALLOC_CAPACITY if path.stem.startswith("minimalloc") else None
        out[path.stem] = (read_instance(path), cap)
    out["training_20k"] = (training_instance(), None)
    out["random_20k"] = (random_instance(), None)
    return out


def greedy_best_fit(buffers: list[Buffer]) -> int:
    plans = greedy_plans(Arrays.of(buffers, 1))
    return min(int((plans[k] + Arrays.of(buffers, 1).size).max())
               for k in ("greedy_by_size", "greedy_by_lifetime"))


def row(name: str, buffers: list[Buffer], capacity: int | None, limit: float, optimize: bool,
        use_cpsat: bool) -> dict[str, object]:
    bound = lower_bound(buffers)
    greedy = greedy_best_fit(buffers)
    t0 = time.monotonic()
    out = plan_instance(buffers, name, "auto", 1, limit, None if optimize else capacity,
                        use_cpsat=use_cpsat)
    elapsed = time.monotonic() - t0
    return {"instance": name, "buffers": len(buffers), "lower_bound_nbytes": bound,
            "greedy_nbytes": greedy, "greedy_ratio": greedy / bound,
            "arena_nbytes": out.arena_nbytes, "ratio": out.arena_nbytes / bound,
            "capacity_nbytes": capacity,
            "fits": None if capacity is None else out.arena_nbytes <= capacity,
            "time_s": elapsed, "time_limit_s": limit,
            "strategy": out.strategy + (f"/{out.engine}" if out.engine else ""),
            "proven_optimal": out.proven_optimal}


def render(rows: list[dict[str, object]]) -> str:
    head = (f"{'instance':<16}{'buffers':>8}{'bound':>15}{'greedy':>15}{'g/bound':>9}"
            f"{'ours':>15}{'o/bound':>9}{'fits':>6}{'time s':>8}  {'won by':<24}optimal")
    lines = [head, "-" * len(head)]
    for r in rows:
        fits = "-" if r["fits"] is None else "yes" if r["fits"] else "NO"
        lines.append(f"{r['instance']:<16}{r['buffers']:>8,}{r['lower_bound_nbytes']:>15,}"
                     f"{r['greedy_nbytes']:>15,}{r['greedy_ratio']:>9.4f}"
                     f"{r['arena_nbytes']:>15,}{r['ratio']:>9.5f}{fits:>6}"
                     f"{r['time_s']:>8.2f}  {r['strategy']:<24}"
                     f"{'proven' if r['proven_optimal'] else 'no'}")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="instance CSV directory")
    p.add_argument("--only", default="", help="comma-separated instance names")
    p.add_argument("--time-limit", type=float, default=None,
                   help="seconds per instance (default 60 for minimalloc, 10 for the others)")
    p.add_argument("--optimize", action="store_true", help="ignore the minimalloc capacity")
    p.add_argument("--no-cpsat", action="store_true", help="branch and bound only")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    wanted = {w for w in args.only.split(",") if w}
    rows = []
    for name, (buffers, cap) in instances(args.dir).items():
        if wanted and name not in wanted:
            continue
        limit = args.time_limit or LIMITS_S.get(name.split("_")[0], 10.0)
        rows.append(row(name, buffers, cap, limit, args.optimize, not args.no_cpsat))
        if not args.json:
            print(render(rows).splitlines()[-1] if len(rows) > 1 else render(rows), flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
