"""Entry point of the `mlxa` console script and of `python analyze.py`.

Every command module exposes `add_parser(subparsers)` and `run(args) -> int`. Errors that a user
can fix (MlxaError, OSError on their paths) become one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from mlxa import __version__
from mlxa.errors import MlxaError
from mlxa.machine.blas import choose_blas_core

COMMANDS = ("analyze", "show", "plan", "models", "memory")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's usage dump is not one line
        raise MlxaError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mlxa", description="ML eXecution Analyzer")
    parser.add_argument("--version", action="version", version=f"mlxa {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"mlxa.cli.{name}_cmd")
        except ModuleNotFoundError as e:
            if e.name != f"mlxa.cli.{name}_cmd":
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    choose_blas_core(argv)  # before numpy loads its BLAS
    try:
        args = build_parser().parse_args(argv)
        return int(args.run(args))
    except MlxaError as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        return _fail("interrupted", code=130)


def _fail(message: str, code: int = 2) -> int:
    print(f"mlxa: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
