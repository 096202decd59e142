"""`--html` on the case-study commands: the flag and its one check, written once.

The page is one more file of the run, written with its JSON, text and picture (all or none), so
it needs the directory of `--out`; without one the command refuses before any work."""

from __future__ import annotations

import argparse

from mlxa.errors import UserInputError


def add_html_arg(p: argparse.ArgumentParser, name: str) -> None:
    p.add_argument("--html", action="store_true",
                   help=f"with --out: also write {name}.html, one self-contained page (summary, "
                        "sortable tables, the picture, how measured, the machine)")


def check_html(args: argparse.Namespace) -> None:
    if args.html and not args.out:
        raise UserInputError("--html needs --out DIR: the page is written with the run's other "
                             "files")
