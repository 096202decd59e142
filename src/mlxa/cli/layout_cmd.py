"""`mlxa layout`: the layout case study (studies/layout.py): every conv of zoo models in NCHW,
NHWC and blocked NCHWc in mlxa, torch and ONNX Runtime; the transposes each layout inserts; a
per-conv prediction of the fastest layout checked against the measurement."""

from __future__ import annotations

import argparse

from mlxa.cli.html_flag import add_html_arg, check_html, write_study
from mlxa.errors import UserInputError

CNNS = ("resnet18", "resnet50", "mobilenet_v2")
BACKENDS = ("mlxa", "torch", "ort")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("layout", help="NCHW vs NHWC vs NCHWc per conv, measured and predicted")
    p.add_argument("--models", default="resnet50,mobilenet_v2",
                   help=f"comma-separated zoo CNNs (of {', '.join(CNNS)}; default "
                        "resnet50,mobilenet_v2)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--image", type=int, default=224, help="image side (default 224)")
    p.add_argument("--threads", type=int, default=1, help="threads per runtime (default 1)")
    p.add_argument("--budget", type=float, default=0.5, metavar="SECONDS",
                   help="timing budget per conv geometry, all layouts together (default 0.5)")
    p.add_argument("--block", type=int, default=0,
                   help="nchwc block (default: the SIMD width in floats)")
    p.add_argument("--backends", default=",".join(BACKENDS),
                   help="comma-separated subset of mlxa,torch,ort (mlxa always runs)")
    p.add_argument("--json", action="store_true", help="print the data as JSON")
    p.add_argument("--out", metavar="DIR", help="also write layout.json, layout.txt, layout.png")
    add_html_arg(p, "layout")
    p.set_defaults(run=run)


def _names(text: str, known: tuple[str, ...], option: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise UserInputError(f"{option} {text!r}: expected names from {', '.join(known)}")
    return names


def run(args: argparse.Namespace) -> int:
    check_html(args)
    models = _names(args.models, CNNS, "--models")
    backends = _names(args.backends, BACKENDS, "--backends")
    if not (1 <= args.batch <= 64 and 16 <= args.image <= 512 and 1 <= args.threads <= 256
            and 0 < args.budget <= 60 and args.block in (0, 4, 8, 16, 32, 64)):
        raise UserInputError("--batch 1..64, --image 16..512, --threads >= 1, --budget "
                             "(0, 60] seconds, --block one of 4, 8, 16, 32, 64")
    from mlxa.atomic import ensure_writable_dir
    from mlxa.report.layout_text import render_json, render_text
    from mlxa.studies.layout import Config, run_study

    out = ensure_writable_dir(args.out) if args.out else None
    config = Config(models, args.batch, args.image, args.threads, args.budget, args.block,
                    tuple(sorted(set(backends) | {"mlxa"})))
    from mlxa.report.progress import terminal_progress

    with terminal_progress() as progress:  # bars on a terminal only
        result = run_study(config, progress=progress)
    text = render_text(result)
    if out is not None:
        from mlxa.report.layout_plot import layout_png
        from mlxa.report.study_html import layout_html

        png = layout_png(result)
        write_study(out / "layout", render_json(result), text, png,
                    (lambda: layout_html(result, text, png)) if args.html else None)
    print(render_json(result) if args.json else text, end="")
    return 0
