"""`mlxa fusion`: the fusion case study (studies/fusion.py): elementwise chains of low, medium
and high complexity (and --expr) run eager and compiled by numpy, torch, mlxa, XLA, Inductor and
ONNX Runtime at sizes from L1 to DRAM, against this machine's copy bandwidth."""

from __future__ import annotations

import argparse

from mlxa.cli.html_flag import add_html_arg, check_html, write_study
from mlxa.errors import UserInputError

SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
MAX_SIZE = 1 << 30


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fusion", help="the fusion case study: eager vs JIT on elementwise chains, "
                                      "against this machine's bandwidth")
    p.add_argument("--expr", metavar="EXPR",
                   help="also your own chain, e.g. 'x * tanh(x + b)': x, b, numbers, + - * / **, "
                        "and relu sigmoid tanh exp log sqrt abs neg reciprocal erf silu max min")
    p.add_argument("--only-expr", action="store_true", help="run --expr alone")
    p.add_argument("--sizes", metavar="16K,256K,4M,64M",
                   help="bytes of x (float32, rows of 1024) per size (default 16K,256K,4M,64M: "
                        "L1 to DRAM)")
    p.add_argument("--backends", metavar="NAMES",
                   help="comma-separated subset of numpy,torch,mlxa,xla,inductor,ort")
    p.add_argument("--threads", type=int, default=1,
                   help="threads per backend (default 1: numpy's ufuncs run on one)")
    p.add_argument("--budget", type=float, default=1.0, metavar="SECONDS",
                   help="timing budget per chain and size, all backends together (default 1)")
    p.add_argument("--json", action="store_true", help="print the data as JSON")
    p.add_argument("--out", metavar="DIR", help="also write fusion.json, fusion.txt, fusion.png "
                                                "(the picture draws the cached ceilings)")
    p.add_argument("--ceilings", metavar="FILE",
                   help="the picture's ceilings from a machine.json instead of the cache")
    add_html_arg(p, "fusion")
    p.set_defaults(run=run)


def parse_sizes(text: str) -> tuple[int, ...]:
    sizes = []
    for part in text.split(","):
        item = part.strip().upper().removesuffix("IB").removesuffix("B")
        unit = item[-1:] if item[-1:] in SIZE_UNITS else ""
        digits = item[:-1] if unit else item
        if not digits.isdigit() or not 4096 <= int(digits) * SIZE_UNITS[unit] <= MAX_SIZE:
            raise UserInputError(f"--sizes {text!r}: expected sizes like 16K,4M,64M between "
                                 "4K and 1G")
        sizes.append(int(digits) * SIZE_UNITS[unit])
    return tuple(sizes)


def run(args: argparse.Namespace) -> int:
    from mlxa.studies.expr import parse
    from mlxa.studies.fusion import CHAINS, DEFAULT_SIZES, StudyConfig
    from mlxa.studies.fusion_backends import BACKENDS

    check_html(args)
    chains = [] if args.only_expr else list(CHAINS)
    if args.expr is not None:
        parse(args.expr)  # refuse bad text before anything runs
        chains.append(("custom", "your chain", args.expr))
    elif args.only_expr:
        raise UserInputError("--only-expr needs --expr")
    backends = tuple(BACKENDS)
    if args.backends:
        backends = tuple(b.strip() for b in args.backends.split(","))
        unknown = [b for b in backends if b not in BACKENDS]
        if unknown:
            raise UserInputError(f"--backends: unknown {', '.join(unknown)}; known: "
                                 f"{', '.join(BACKENDS)}")
    if args.threads < 1 or not 0 < args.budget <= 600:
        raise UserInputError("--threads must be >= 1 and --budget between 0 and 600 seconds")
    config = StudyConfig(sizes=parse_sizes(args.sizes) if args.sizes else DEFAULT_SIZES,
                         backends=backends, threads=args.threads, size_budget_s=args.budget)
    return _run(args, chains, config)


def _run(args: argparse.Namespace, chains: list[tuple[str, str, str]], config: object) -> int:
    from mlxa.atomic import ensure_writable_dir
    from mlxa.machine.cache import ceilings_for
    from mlxa.machine.cpu import cpu_count, load_average
    from mlxa.report.fusion_text import render_fusion_text, render_json
    from mlxa.session import run_meta
    from mlxa.studies.fusion import FusionResult, StudyConfig, result_warnings, run_study

    assert isinstance(config, StudyConfig)
    out = ensure_writable_dir(args.out) if args.out else None
    ceilings = ceilings_for(args.ceilings)[0] if out is not None else None
    from mlxa.report.progress import terminal_progress

    with terminal_progress() as progress:  # bars on a terminal only
        runs, skipped = run_study(chains, config, progress=progress)
    meta = run_meta()
    result = FusionResult(runs, config.threads, config.backends, skipped,
                          ceilings.fingerprint if ceilings else "",
                          {"cpu": meta.cpu, "cpu_count": meta.cpu_count, "date": meta.date,
                           "load_average": meta.load_average, "command": meta.command},
                          result_warnings(runs, load_average(), cpu_count()))
    text = render_fusion_text(result)
    if out is not None and ceilings is not None:
        from mlxa.report.fusion_plot import fusion_png
        from mlxa.report.study_html import fusion_html

        png = fusion_png(result, ceilings)
        write_study(out / "fusion", render_json(result), text, png,
                    (lambda: fusion_html(result, text, png)) if args.html else None)
    print(render_json(result) if args.json else text, end="")
    return 0
