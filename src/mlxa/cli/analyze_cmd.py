"""`mlxa analyze`: run a model eager and compiled, measure both, check, report."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlxa.atomic import ensure_writable_dir
from mlxa.cli.model_args import add_model_args, check_positive, load_model
from mlxa.errors import UserInputError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="eager vs compiled execution, measured side by side")
    add_model_args(p)
    p.add_argument("--mode", default="both", help="baseline | optimized | both (default both)")
    p.add_argument("--planner", default="best", help="offset planner (default best)")
    p.add_argument("--warmup", type=int, default=10, help="warm-up calls (default 10)")
    p.add_argument("--repeat", type=int, default=100, help="timed calls (default 100)")
    p.add_argument("--out", default="reports", help="report directory (default reports/)")
    p.add_argument("--name", help="report file name without extension (default: the model's)")
    p.add_argument("--quiet", action="store_true", help="print only the report paths")
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
    check_positive("--repeat", args.repeat)
    if args.warmup < 0:
        raise UserInputError(f"--warmup must be >= 0, got {args.warmup}")
    if args.plots:
        _check_plots(args.mode)
    model = load_model(args)
    out_dir = ensure_writable_dir(args.out)
    return _analyze(args, model, out_dir)


def _analyze(args: argparse.Namespace, model, out_dir: Path) -> int:  # type: ignore[no-untyped-def]
    from mlxa.report.files import write_run
    from mlxa.report.text import render_text
    from mlxa.session import RunOptions, analyze

    options = RunOptions(mode=args.mode, warmup=args.warmup, repeat=args.repeat,
                         planner=args.planner)
    result = analyze(model.graph, model.inputs, options, model.info)
    name = args.name or model.info["name"]
    paths: tuple[Path, ...] = write_run(result, out_dir, name)
    if args.plots:
        paths += (_write_timeline(result, model.info["name"], out_dir / f"{name}_timeline.png"),)
    if not args.quiet:
        print(render_text(result), end="")
    print("Reports: " + ", ".join(str(p) for p in paths))
    correct = result.get("comparison", {}).get("correctness", {}).get("passed", True)
    return 0 if correct else 1


def _check_plots(mode: str) -> None:
    """Before anything is loaded or written: --plots needs matplotlib and a compiled run."""
    if mode == "baseline":
        raise UserInputError("--plots draws the compiled plan: use --mode optimized or both")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UserInputError("--plots needs matplotlib: pip install 'mlxa[plots]'") from None


def _write_timeline(result: dict, model_name: str, path: Path) -> Path:
    """Drawn from the run's data: the plan the optimized run used, not a second compilation."""
    from mlxa.report.compiled_timeline import write_timeline

    write_timeline(result["optimized"]["plan"], path, f"{model_name}: compiled memory plan")
    return path
