"""`mlxa sparsity`: the sparsity case study (studies/sparsity.py): pruning levels and patterns,
break-even densities of sparse kernels per layer shape, dense runtimes on pruned weights, channel
pruning's real speedup, and accuracy against sparsity on digits_cnn."""

from __future__ import annotations

import argparse

from mlxa.cli.html_flag import add_html_arg, check_html, write_study
from mlxa.errors import UserInputError

CNNS = ("resnet18", "resnet50", "mobilenet_v2", "small_cnn")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sparsity", help="what zero weights buy: pruning, sparse kernels' "
                                        "break-even, channel pruning's speedup, accuracy")
    p.add_argument("--model", default="resnet18", help=f"zoo CNN ({', '.join(CNNS)})")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--image", type=int, default=224, help="image side (default 224)")
    p.add_argument("--threads", type=int, default=1, help="threads per runtime (default 1)")
    p.add_argument("--level", type=float, default=0.9,
                   help="the level of the per-layer tables (default 0.9)")
    p.add_argument("--channel-level", type=float, default=0.5,
                   help="channel pruning's level for the speedup (default 0.5)")
    p.add_argument("--probe-budget", type=float, default=0.15, metavar="SECONDS",
                   help="timing budget per break-even probe (default 0.15)")
    p.add_argument("--model-budget", type=float, default=3.0, metavar="SECONDS",
                   help="timing budget per whole-model comparison (default 3)")
    p.add_argument("--no-accuracy", action="store_true", help="skip the digits_cnn curve")
    p.add_argument("--json", action="store_true", help="print the data as JSON")
    p.add_argument("--out", metavar="DIR",
                   help="also write sparsity.json, sparsity.txt, sparsity.png")
    add_html_arg(p, "sparsity")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_html(args)
    if args.model not in CNNS:
        raise UserInputError(f"--model {args.model!r}: expected one of {', '.join(CNNS)}")
    if not (1 <= args.batch <= 64 and 16 <= args.image <= 512 and 1 <= args.threads <= 256
            and 0.5 <= args.level < 1 and 0 < args.channel_level < 1
            and 0 < args.probe_budget <= 10 and 0 < args.model_budget <= 60):
        raise UserInputError("--batch 1..64, --image 16..512, --threads >= 1, --level in "
                             "[0.5, 1), --channel-level in (0, 1), budgets positive (probe <= "
                             "10 s, model <= 60 s)")
    from mlxa.atomic import ensure_writable_dir
    from mlxa.report.sparsity_text import render_json, render_text
    from mlxa.studies.sparsity import Config, run_study

    out = ensure_writable_dir(args.out) if args.out else None
    config = Config(args.model, args.image, args.batch, args.threads, args.level,
                    args.channel_level, args.probe_budget, args.model_budget,
                    not args.no_accuracy)
    from mlxa.report.progress import terminal_progress

    with terminal_progress() as progress:  # bars on a terminal only
        result = run_study(config, progress=progress)
    text = render_text(result)
    if out is not None:
        from mlxa.report.sparsity_plot import sparsity_png
        from mlxa.report.study_html import sparsity_html

        png = sparsity_png(result)
        write_study(out / "sparsity", render_json(result), text, png,
                    (lambda: sparsity_html(result, text, png)) if args.html else None)
    print(render_json(result) if args.json else text, end="")
    return 0
