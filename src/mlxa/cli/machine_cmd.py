"""`mlxa machine`: this machine's ceilings (bandwidth by working set and its plateaus, peak FP32
measured and theoretical, peak INT8, threads), measured once per machine fingerprint and cached
(machine/cache.py); `--refresh` measures again."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlxa.cli.html_flag import add_html_arg, check_html, write_study
from mlxa.machine.cache import load_ceilings
from mlxa.machine.ceilings import Ceilings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("machine", help="this machine's ceilings: bandwidth by working set, peak "
                                       "FP32 and INT8 (measured once, cached)")
    p.add_argument("--refresh", action="store_true", help="measure again, ignoring the cache")
    p.add_argument("--json", action="store_true", help="print the data as JSON")
    p.add_argument("--out", metavar="DIR", help="also write machine.json, machine.txt and "
                                                "machine_bandwidth.png into DIR")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS threads for the FP32 peak (default: the BLAS default); cached "
                        "apart, since the thread count is part of the fingerprint")
    p.add_argument("--quick", action="store_true",
                   help="a rough sweep (16 KiB to 4 MiB, tiny matrices) in about a second: for "
                        "smoke tests, not for ceilings")
    add_html_arg(p, "machine")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mlxa.report.machine_text import render_json, render_machine_text

    check_html(args)
    out = None
    if args.out:
        from mlxa.atomic import ensure_writable_dir

        out = ensure_writable_dir(args.out)
    from mlxa.cli.model_args import check_positive
    from mlxa.machine.blas import blas_threads

    if args.threads is not None:
        check_positive("--threads", args.threads)
    from mlxa.report.progress import terminal_progress

    with blas_threads(args.threads), terminal_progress() as progress:  # bars on a terminal
        ceilings, note = load_ceilings(args.refresh, args.quick, progress)
    text = render_machine_text(ceilings, note)
    if out is not None:
        write_machine(ceilings, out, text, args.html)
    print(render_json(ceilings) if args.json else text, end="")
    return 0


def write_machine(ceilings: Ceilings, out: Path, text: str, html: bool = False) -> None:
    from mlxa.report.ceilings_plot import bandwidth_png
    from mlxa.report.machine_text import render_json
    from mlxa.report.study_html import machine_html

    png = bandwidth_png(ceilings)
    write_study(out / "machine", render_json(ceilings), text, png,
                (lambda: machine_html(ceilings, text, png)) if html else None,
                png_suffix="_bandwidth.png")
