"""`mlxa roofline`: every node of a model's compiled program (and of eager) on this machine's
roofline: measured time, FLOPs, bytes, intensity, roof, predicted time, efficiency, and the ten
nodes that lose the most time against their roof (analysis/roofline.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlxa.cli.html_flag import add_html_arg, check_html, write_study
from mlxa.cli.kernels_flag import add_kernels_arg, kernel_selection
from mlxa.cli.model_args import add_model_args
from mlxa.errors import UserInputError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("roofline", help="every node on this machine's roofline: measured vs "
                                        "predicted time, and what would help")
    add_model_args(p)
    p.add_argument("--budget", type=float, default=20.0, metavar="SECONDS",
                   help="time for the timed rounds, both executors together (default 20; at "
                        "least 3 rounds run)")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS threads for both executors and the ceilings' FP32 peak (default: "
                        "the BLAS default; on a busy machine 1 is steadier)")
    add_kernels_arg(p)
    p.add_argument("--no-eager", action="store_true", help="the compiled program only")
    p.add_argument("--ceilings", metavar="FILE",
                   help="read the ceilings from a machine.json (mlxa machine --out) instead of "
                        "the cache")
    p.add_argument("--json", action="store_true", help="print the data as JSON")
    p.add_argument("--out", metavar="DIR", help="also write <name>_roofline.json, .txt and .png")
    p.add_argument("--name", help="report file name prefix (default: the model's name)")
    add_html_arg(p, "<name>_roofline")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mlxa.analysis.roofline_run import measure_roofline
    from mlxa.atomic import check_name, ensure_writable_dir
    from mlxa.cli.model_args import check_positive, load_model
    from mlxa.machine.blas import blas_threads
    from mlxa.machine.cache import ceilings_for
    from mlxa.report.roofline_text import render_json, render_roofline_text

    if not 0 < args.budget <= 3600:
        raise UserInputError(f"--budget must be between 0 and 3600 seconds, got {args.budget}")
    check_html(args)
    if args.name is not None:
        check_name(args.name)
    if args.threads is not None:
        check_positive("--threads", args.threads)
    kernels = kernel_selection(args)
    model = load_model(args)  # a bad model file stops here, before --out is created
    out = ensure_writable_dir(args.out) if args.out else None
    from mlxa.compiler import CompileOptions
    from mlxa.report.progress import terminal_progress

    with blas_threads(args.threads), terminal_progress() as progress:  # bars on a terminal
        ceilings, note = ceilings_for(args.ceilings)
        result = measure_roofline(model.graph, model.inputs, ceilings, model.info, note,
                                  args.budget, eager=not args.no_eager, progress=progress,
                                  options=CompileOptions(kernels=kernels))
    text = render_roofline_text(result)
    if out is not None:
        _write(result, ceilings, out, args.name or str(model.info.get("name", "model")), text,
               args.html)
    print(render_json(result) if args.json else text, end="")
    return 0


def _write(result: object, ceilings: object, out: Path, name: str, text: str,
           html: bool = False) -> None:
    from mlxa.atomic import safe_name
    from mlxa.report.roofline_plot import roofline_png
    from mlxa.report.roofline_text import render_json
    from mlxa.report.study_html import roofline_html

    write_study(out / f"{safe_name(name)}_roofline",
                render_json(result), text,  # type: ignore[arg-type]
                roofline_png(result, ceilings),  # type: ignore[arg-type]
                (lambda: roofline_html(result, ceilings, text)) if html else None)
