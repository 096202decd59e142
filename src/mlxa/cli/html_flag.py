"""`--html` on the case-study commands: the flag, its one check, and the one writer of a study's
files, written once.

The page is one more file of the run, written with its JSON, text and picture (all or none), so
it needs the directory of `--out`; without one the command refuses before any work."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from mlxa.errors import UserInputError


def add_html_arg(p: argparse.ArgumentParser, name: str) -> None:
    p.add_argument("--html", action="store_true",
                   help=f"with --out: also write {name}.html, one self-contained page (summary, "
                        "sortable tables, the picture, how measured, the machine)")


def check_html(args: argparse.Namespace) -> None:
    if args.html and not args.out:
        raise UserInputError("--html needs --out DIR: the page is written with the run's other "
                             "files")


def write_study(stem: Path, data_json: str, text: str, png: bytes | None = None,
                page: Callable[[], str] | None = None, png_suffix: str = ".png") -> None:
    """STEM.json, STEM.txt, the picture (STEM + png_suffix) and, when `page` is given, STEM.html:
    all or none (atomic.write_files)."""
    from mlxa.atomic import write_files

    files = {stem.parent / f"{stem.name}.json": data_json.encode(),
             stem.parent / f"{stem.name}.txt": text.encode()}
    if png is not None:
        files[stem.parent / f"{stem.name}{png_suffix}"] = png
    if page is not None:
        files[stem.parent / f"{stem.name}.html"] = page().encode()
    write_files(files)
