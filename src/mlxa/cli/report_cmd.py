"""`mlxa report RUN.json [RUN2.json]`: render saved runs as one self-contained HTML page; two
runs side by side. The page is rendered from the saved data alone (the renderers of
report/html.py and report/html_diff.py), so a run from another machine renders the same."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mlxa.errors import UserInputError

MAX_RUN_NBYTES = 64 << 20  # a saved run of ResNet-50 with every node timed is well under 1 MiB


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="render saved runs (.json) as an HTML page; two: a diff")
    p.add_argument("runs", nargs="+", metavar="RUN.json", help="one run, or two to compare")
    p.add_argument("--out", metavar="FILE.html",
                   help="where to write (default: the first run's path with .html; for two "
                        "runs, <first>_vs_<second>.html beside the first)")
    p.add_argument("--ceilings", metavar="FILE.json",
                   help="the machine's roofs for the roofline: the JSON of `mlxa machine` (its "
                        "measured FP32 peak and the copy bandwidth of each plateau), or "
                        "{\"peak_flops_per_s\": F, \"bandwidth_bytes_per_s\": {\"DRAM\": B}, "
                        "\"how\": \"...\"}")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mlxa.atomic import write_files
    from mlxa.report.html import render_html
    from mlxa.report.html_diff import render_diff_html
    if len(args.runs) > 2:
        raise UserInputError(f"mlxa report takes one run or two, got {len(args.runs)}")
    paths = [Path(p) for p in args.runs]
    runs = [load_run(p) for p in paths]
    ceilings = load_ceilings(Path(args.ceilings)) if args.ceilings else None
    out = Path(args.out) if args.out else default_out(paths)
    if out.is_dir():
        raise UserInputError(f"--out {str(out)!r} is a directory; name a file")
    if len(runs) == 1:
        text = render_html(runs[0], ceilings)
    else:
        text = render_diff_html(runs[0], runs[1], names=tuple(p.stem for p in paths))
    write_files({out: text.encode()})
    print(f"Report: {out}")
    return 0


def default_out(paths: list[Path]) -> Path:
    if len(paths) == 1:
        return paths[0].with_suffix(".html")
    return paths[0].with_name(f"{paths[0].stem}_vs_{paths[1].stem}.html")


def load_run(path: Path) -> Any:
    from mlxa.result import RunResult

    data = _read_json(path)
    try:
        return RunResult.from_json(data)
    except ValueError as e:
        raise UserInputError(f"{str(path)!r}: {e}") from None
    except (KeyError, TypeError, AttributeError) as e:
        raise UserInputError(f"{str(path)!r}: not a run of mlxa analyze (bad or missing field "
                             f"{e})") from None


def load_ceilings(path: Path) -> Any:
    """The roofline's roofs from `mlxa machine`'s JSON or the plain mapping."""
    from mlxa.report.svg_roofline import Ceilings

    data = _read_json(path)
    try:
        from mlxa.machine.ceilings import SCHEMA
        from mlxa.machine.ceilings import Ceilings as Measured
    except ImportError:  # no measured ceilings in this version: the plain mapping only
        return Ceilings.from_json(data)
    if data.get("schema") != SCHEMA:
        return Ceilings.from_json(data)
    try:
        m = Measured.from_json(data)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise UserInputError(f"--ceilings {str(path)!r}: bad {SCHEMA} data ({e})") from None
    return Ceilings(m.peak_flops_per_s, tuple((p.name, p.copy_bytes_per_s) for p in m.plateaus),
                    f"mlxa machine on {m.date}: FP32 peak measured with BLAS on {m.threads} "
                    "thread(s); copy bandwidth of each working-set plateau, one thread")


def _read_json(path: Path) -> Any:
    try:
        if not path.is_file():
            raise UserInputError(f"{str(path)!r}: no such file")
        if path.stat().st_size > MAX_RUN_NBYTES:
            raise UserInputError(f"{str(path)!r}: larger than {MAX_RUN_NBYTES >> 20} MiB; "
                                 "not a saved run")
        data = json.loads(path.read_bytes())
    except OSError as e:
        raise UserInputError(f"cannot read {str(path)!r}: {e.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise UserInputError(f"{str(path)!r}: not JSON ({type(e).__name__})") from None
    if not isinstance(data, dict):
        raise UserInputError(f"{str(path)!r}: not a JSON object")
    return data
