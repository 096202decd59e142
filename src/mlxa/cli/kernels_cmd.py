"""`mlxa kernels`: the custom kernels mlxa ships and where they apply, the case studies against
XLA, Inductor and ONNX Runtime (studies/kernels.py), and with `--ablation` the compiled
executor's speedup over eager attributed to each technique (studies/ablation.py). Text on
stdout, or `--json`; with `--out DIR` the case studies' kernels.json and kernels.txt (and with
`--html` kernels.html) are written together, all or none."""

from __future__ import annotations

import argparse
import json
import os

from mlxa.cli.html_flag import add_html_arg, check_html
from mlxa.errors import UserInputError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("kernels", help="custom kernels: case studies against XLA, Inductor and "
                                       "ONNX Runtime; --ablation: where the speedup comes from")
    p.add_argument("--case", default="all",
                   help="case(s), comma-separated (default all; --list names them)")
    p.add_argument("--list", action="store_true", help="list the kernels and cases, then exit")
    p.add_argument("--ablation", action="store_true",
                   help="time each zoo model with each technique switched off in turn")
    p.add_argument("--models", default="mlp,transformer,small_cnn,mobilenet_v2",
                   help="zoo models for --ablation (comma-separated)")
    p.add_argument("--batch", default="1", help="batch sizes for --ablation (e.g. 1,32)")
    p.add_argument("--budget", type=float, default=2.0, help="seconds of turns per case")
    p.add_argument("--repeat", type=int, default=10, help="calls per round (--ablation)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (--ablation)")
    p.add_argument("--threads", type=int, default=1, help="BLAS, ORT, XLA and torch threads")
    p.add_argument("--no-compilers", action="store_true",
                   help="leave out XLA, Inductor and ONNX Runtime in the case studies")
    p.add_argument("--json", action="store_true", help="print the data as JSON")
    p.add_argument("--out", metavar="DIR",
                   help="also write kernels.json and kernels.txt into DIR (the case studies)")
    add_html_arg(p, "kernels")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mlxa.studies.kernels import case_names

    cases = case_names(args.case)  # bad input refused before any work
    batches, models = _check(args)
    check_html(args)
    if args.out and args.ablation:
        raise UserInputError("--out writes the case studies; --ablation prints only")
    if args.out:
        from mlxa.atomic import ensure_writable_dir

        ensure_writable_dir(args.out)
    if args.list:
        print(_listing())
        return 0
    _limit_threads(args.threads)
    if args.ablation:
        return _ablation(args, models, batches)
    from mlxa.report.kernels_text import render_text
    from mlxa.report.progress import terminal_progress
    from mlxa.studies.kernels import run_cases

    on = () if args.no_compilers else ("xla", "inductor", "ort")
    with terminal_progress() as progress:  # bars on a terminal only
        results = run_cases(cases, args.threads, args.budget, on, progress)
    text = render_text(results, _header(args.threads))
    data = json.dumps([r.to_json() for r in results], indent=2)
    if args.out:
        _write(results, args, text, data)
    print(data if args.json else text)
    return 0


def _write(results: list, args: argparse.Namespace, text: str, data: str) -> None:
    from pathlib import Path

    from mlxa.cli.html_flag import write_study
    from mlxa.machine.cpu import cpu_name
    from mlxa.report.study_html import kernels_html

    def page() -> str:
        meta = {"cpu": cpu_name(), "CPUs": os.cpu_count(), "threads": args.threads,
                "load (1 min)": round(os.getloadavg()[0], 2)}
        return kernels_html(results, meta, text)

    write_study(Path(args.out) / "kernels", data + "\n", text + "\n",
                page=page if args.html else None)


def _check(args: argparse.Namespace) -> tuple[list[int], list[str]]:
    from mlxa.models.zoo import get_model

    for name in ("repeat", "rounds", "threads"):
        if getattr(args, name) <= 0:
            raise UserInputError(f"--{name} must be a positive integer, got {getattr(args, name)}")
    if not args.budget > 0:
        raise UserInputError(f"--budget must be a positive number of seconds, got {args.budget}")
    try:
        batches = [int(b) for b in args.batch.split(",")]
    except ValueError:
        raise UserInputError(f"--batch {args.batch!r}: expected N[,N...]") from None
    if any(b <= 0 for b in batches):
        raise UserInputError(f"--batch {args.batch!r}: batch sizes must be positive")
    models = [m.strip() for m in args.models.split(",")]
    for m in models:
        get_model(m)
    return batches, models


def _limit_threads(threads: int) -> None:
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads, user_api="blas")
    except ImportError:
        pass
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass


def _header(threads: int) -> str:
    load = os.getloadavg()[0]
    return (f"threads {threads}; load average {load:.1f} on {os.cpu_count()} CPUs"
            + (" (busy machine: read the best times and ratios, not the medians)"
               if load > 0.75 * (os.cpu_count() or 1) else ""))


def _listing() -> str:
    from mlxa.kernels import library  # noqa: F401
    from mlxa.kernels.registry import KERNELS
    from mlxa.studies.kernels import CASES

    lines = ["kernels (name, op, technique, installed):"]
    lines += [f"  {k.name:<18} {k.op:<11} {k.technique:<9} {'yes' if k.available else 'no'}"
              f"  {k.doc}" for k in KERNELS.values()]
    lines += ["cases:"] + [f"  {c.name:<20} {c.description}" for c in CASES.values()]
    return "\n".join(lines)


def _ablation(args: argparse.Namespace, models: list[str], batches: list[int]) -> int:
    from dataclasses import asdict

    from mlxa.studies.ablation import render_rows, run_ablation

    rows = [run_ablation(m, b, args.threads, args.repeat, args.rounds)
            for m in models for b in batches]
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
    else:
        print(_header(args.threads))
        print(render_rows(rows))
        for r in rows:  # per node: which custom kernel bound it in the full configuration
            print(f"\n{r.model} batch {r.batch}, custom kernels per node:")
            print("\n".join(f"  {line}" for line in r.kernels) or "  none")
    return 0 if all(r.passed for r in rows) else 1
