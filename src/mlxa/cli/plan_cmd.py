"""`mlxa plan FILE.csv`: plan one offset-planning instance (MiniMalloc's CSV format) and report the
arena, the lower bound, the winning strategy and whether the plan is proven optimal.

Everything is checked before anything is written: the instance, the options, the output paths.
Outputs (--out offsets CSV, --plot PNG) are made in memory once the plan is validated, then
written atomically, both or neither.
"""

from __future__ import annotations

import argparse
import math
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
                   help="seconds for planning, every strategy (default 10); a greedy strategy "
                        "that cannot finish in time is refused")
    p.add_argument("--alignment", type=_integer, default=1, metavar="N",
                   help="align every offset and size to N bytes (default 1)")
    p.add_argument("--target", type=_integer, default=None, metavar="BYTES",
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


def _integer(text: str) -> int:
    """An option's integer, refused (quoted short) when not one or above 2^63 - 1."""
    text = text.strip()
    digits = text.removeprefix("-").removeprefix("+") if text[:1] in "+-" else text
    if not (digits.isascii() and digits.isdigit() and len(digits.lstrip("0")) <= 19):
        raise argparse.ArgumentTypeError(f"{text[:30]!r} is not an integer up to 2^63 - 1")
    value = int(text)
    if abs(value) >= 1 << 63:
        raise argparse.ArgumentTypeError(f"{text[:30]!r} is not an integer up to 2^63 - 1")
    return value


def run(args: argparse.Namespace) -> int:
    from mlxa.planners.instance import offsets_csv, read_instance, shown
    from mlxa.planners.outcome import plan_instance
    from mlxa.report.plan_text import render_plan_json, render_plan_text

    _check_options(args)
    buffers = read_instance(args.file)
    source = shown(Path(args.file).name)
    from mlxa.report.progress import terminal_progress

    with terminal_progress() as progress:  # no --quiet here: silent unless stderr is a terminal
        outcome = plan_instance(buffers, source, args.strategy, args.alignment,
                                args.time_limit, args.target,
                                clock=None if args.no_timing else time.monotonic,
                                use_cpsat=not args.no_cpsat, progress=progress)
    outputs = []  # made in memory first: an interrupt while drawing leaves nothing on disk
    if args.plot:
        from mlxa.report.timeline_plot import timeline_png

        png = timeline_png(buffers, outcome.plan, title=f"{source}: {outcome.strategy}")
        outputs.append((args.plot, png))
    if args.out:
        outputs.append((args.out, offsets_csv(buffers, outcome.plan).encode("utf-8")))
    _write_all(outputs)
    print(render_plan_json(outcome) if args.json else render_plan_text(outcome), end="")
    return 0


def _write_all(outputs: list[tuple[str, bytes]]) -> None:
    """Write every output atomically, all or none: if one fails (or the run is interrupted
    between two), the ones already written are removed."""
    from mlxa.atomic import write_bytes
    from mlxa.interrupts import held

    written: list[str] = []
    try:
        for path, data in outputs:
            with held():  # a signal raises before a file is written or once it is counted
                write_bytes(path, data)
                written.append(path)
    except BaseException:
        for path in written:
            Path(path).unlink(missing_ok=True)
        raise


def _check_options(args: argparse.Namespace) -> None:
    from mlxa.errors import UserInputError

    if not 0 < args.time_limit < math.inf:
        raise UserInputError(f"--time-limit must be a positive number of seconds, "
                             f"got {args.time_limit:g}")
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
