"""`mlxa analyze`: run a model eager and compiled, measure both, judge, report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mlxa.atomic import check_name, ensure_writable_dir, safe_name
from mlxa.cli.kernels_flag import add_kernels_arg, kernel_selection
from mlxa.cli.model_args import add_model_args, check_positive, load_model
from mlxa.errors import UserInputError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="eager vs compiled execution, measured side by side")
    add_model_args(p)
    p.add_argument("--mode", default="both", help="baseline | optimized | both (default both)")
    p.add_argument("--planner", default="best", help="offset planner (default best)")
    p.add_argument("--warmup", type=int, default=1,
                   help="warm-up calls of each executor after its first (default 1)")
    p.add_argument("--repeat", type=int, default=None,
                   help="timed calls of each executor (default: as many as --budget allows, "
                        "5 to 200)")
    p.add_argument("--budget", type=float, default=3.0, metavar="SECONDS",
                   help="time for the timed calls, both executors together (default 3)")
    p.add_argument("--per-op", action="store_true",
                   help="also time every node: median ms, share, FLOPs, bytes, GFLOP/s, GB/s")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS threads for both executors (default: the BLAS default)")
    add_kernels_arg(p)
    p.add_argument("--out", default="reports", help="report directory (default reports/)")
    p.add_argument("--name", help="report file name without extension (default: the model's)")
    p.add_argument("--quiet", action="store_true",
                   help="print only the report paths (and no progress bars)")
    p.add_argument("--html", action="store_true",
                   help="also write <out>/<name>.html: one self-contained page (graph, timeline, "
                        "roofline, per-op table, machine) that opens offline")
    p.add_argument("--plots", action="store_true",
                   help="also write <out>/<name>_timeline.png: the compiled plan's arena over "
                        "its steps, buffers coloured by op (needs matplotlib)")
    p.add_argument("--blas-core", metavar="NAME",
                   help="OpenBLAS kernel family for both executors, e.g. SkylakeX or Haswell "
                        "(default: $OPENBLAS_CORETYPE, else SkylakeX where the CPU has AVX-512)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mlxa.planners import PLANNERS
    from mlxa.session import MODES

    if args.mode not in MODES:
        raise UserInputError(f"unknown mode {args.mode!r}; choose from {', '.join(MODES)}")
    if args.planner not in PLANNERS:
        raise UserInputError(f"unknown planner {args.planner!r}; known: {', '.join(PLANNERS)}")
    if args.repeat is not None:
        check_positive("--repeat", args.repeat)
    if args.threads is not None:
        check_positive("--threads", args.threads)
    if args.warmup < 0:
        raise UserInputError(f"--warmup must be >= 0, got {args.warmup}")
    if not 0 < args.budget <= 3600:
        raise UserInputError(f"--budget must be between 0 and 3600 seconds, got {args.budget}")
    if args.name is not None:
        check_name(args.name)
    if args.plots:
        _check_plots(args.mode)
    kernels = kernel_selection(args)  # an unknown name is refused before the model loads
    model = load_model(args)
    out_dir = ensure_writable_dir(args.out)
    from mlxa.machine.blas import blas_threads

    with blas_threads(args.threads):
        return _analyze(args, model, out_dir, kernels)


def _analyze(args: argparse.Namespace, model: Any, out_dir: Path,
             kernels: tuple[str, ...]) -> int:
    from mlxa.report.files import write_run
    from mlxa.report.progress import terminal_progress
    from mlxa.report.text import render_text
    from mlxa.result import RunConfig
    from mlxa.session import analyze

    config = RunConfig(mode=args.mode, planner=args.planner, warmup=args.warmup,
                       repeat=args.repeat, budget_s=args.budget, per_op=args.per_op,
                       threads=args.threads, kernels=kernels)
    with terminal_progress(enabled=not args.quiet) as progress:
        result = analyze(model.graph, model.inputs, config, model_info(model.info),
                         progress=progress)
    name = args.name or safe_name(str(model.info["name"]))
    extra = {}
    if args.plots and result.plan is not None:
        from mlxa.report.compiled_timeline import timeline_png

        extra["_timeline.png"] = timeline_png(result.plan,
                                              f"{result.model.name}: compiled memory plan")
    if args.html:
        from mlxa.report.html import render_html

        extra[".html"] = render_html(result).encode()
    paths = write_run(result, out_dir, name, extra)
    if not args.quiet:
        print(render_text(result), end="")
    print("Reports: " + ", ".join(str(p) for p in paths))
    passed = result.comparison.correctness.passed if result.comparison else True
    return 0 if passed else 1


def model_info(info: dict[str, Any]) -> Any:
    """A model source's description as the session's typed ModelInfo; keys it does not name
    go to `details`."""
    from dataclasses import fields

    from mlxa.session import ModelInfo

    known = {f.name for f in fields(ModelInfo)} - {"details"}
    typed = {k: v for k, v in info.items() if k in known}
    if typed.get("input_values") is not None:
        typed["input_values"] = tuple(typed["input_values"])
    return ModelInfo(**typed, details={k: v for k, v in info.items() if k not in known})


def _check_plots(mode: str) -> None:
    """Before anything is loaded or written: --plots needs matplotlib and a compiled run."""
    if mode == "baseline":
        raise UserInputError("--plots draws the compiled plan: use --mode optimized or both")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UserInputError("--plots needs matplotlib: pip install 'mlxa[plots]'") from None
