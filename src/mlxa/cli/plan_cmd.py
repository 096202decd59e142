"""`mlxa plan FILE.csv`: plan one offset-planning instance (MiniMalloc's CSV format) and report the
arena, the lower bound, the winning strategy and whether the plan is proven optimal.

Everything is checked before anything is written: the instance, the options, the output paths.
Outputs (--out offsets CSV, --plot PNG) are written atomically, only after the plan is validated.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    from mlxa.planners.outcome import AUTO, strategies

    p = sub.add_parser("plan", help="plan an offset-planning instance (CSV id,lower,upper,size)")
    p.add_argument("file", help="instance CSV: id,lower,upper,size (one buffer per row)")
    p.add_argument("--strategy", default=AUTO, choices=strategies(), metavar="NAME",
                   help=f"planner to use: {', '.join(strategies())} (default {AUTO}: the "
                        "greedy heuristics, then the exact planner from the best of them)")
    p.add_argument("--time-limit", type=float, default=10.0, metavar="S",
                   help="seconds for the exact and iterated planners (default 10)")
    p.add_argument("--alignment", type=int, default=1, metavar="N",
                   help="align every offset and size to N bytes (default 1)")
    p.add_argument("--target", type=int, default=None, metavar="BYTES",
                   help="stop searching once the arena is at most BYTES")
    p.add_argument("--out", metavar="PATH", help="write the offsets as CSV (id,offset)")
    p.add_argument("--plot", metavar="PATH", help="draw the memory timeline as PNG")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON data")
    p.add_argument("--no-cpsat", action="store_true",
                   help="exact planner: only the built-in branch and bound (deterministic), "
                        "not CP-SAT beside it")
    p.add_argument("--no-timing", action="store_true",
                   help="leave wall-clock times out of the output (reproducible)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mlxa.planners.instance import read_instance, write_offsets
    from mlxa.planners.outcome import plan_instance
    from mlxa.report.plan_text import render_plan_json, render_plan_text

    _check_options(args)
    buffers = read_instance(args.file)
    outcome = plan_instance(buffers, Path(args.file).name, args.strategy, args.alignment,
                            args.time_limit, args.target,
                            clock=None if args.no_timing else time.monotonic,
                            use_cpsat=not args.no_cpsat)
    if args.out:
        write_offsets(args.out, buffers, outcome.plan)
    if args.plot:
        from mlxa.report.timeline_plot import render_timeline_png

        render_timeline_png(buffers, outcome.plan, args.plot,
                            title=f"{Path(args.file).name}: {outcome.strategy}")
    print(render_plan_json(outcome) if args.json else render_plan_text(outcome), end="")
    return 0


def _check_options(args: argparse.Namespace) -> None:
    from mlxa.errors import UserInputError

    if not args.time_limit > 0:
        raise UserInputError(f"--time-limit must be positive, got {args.time_limit:g}")
    if args.alignment < 1:
        raise UserInputError(f"--alignment must be at least 1, got {args.alignment}")
    if args.target is not None and args.target < 0:
        raise UserInputError(f"--target must not be negative, got {args.target}")
    outputs = [(flag, path) for flag, path in (("--out", args.out), ("--plot", args.plot)) if path]
    for flag, path in outputs:
        _check_output(flag, path, args.file)
    if len(outputs) == 2 and _same(outputs[0][1], outputs[1][1]):
        raise UserInputError("--out and --plot name the same file")


def _check_output(flag: str, path: str, source: str) -> None:
    from mlxa.errors import UserInputError

    target = Path(path)
    if target.is_dir():
        raise UserInputError(f"{flag} {path!r} is a directory")
    if _same(path, source):
        raise UserInputError(f"{flag} {path!r} would overwrite the instance file")
    parent = target.parent
    if not parent.is_dir():
        raise UserInputError(f"{flag} {path!r}: directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserInputError(f"{flag} {path!r}: directory {str(parent)!r} is not writable")


def _same(a: str, b: str) -> bool:
    return Path(a).resolve() == Path(b).resolve()
