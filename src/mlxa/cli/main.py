"""Entry point of the `mlxa` console script and of `python analyze.py`.

Every command module exposes `add_parser(subparsers)` and `run(args) -> int`. Exit codes: 0 ok,
1 a failed correctness check, 2 bad input (an MlxaError: one line on stderr naming the problem),
3 an internal error (one line; `--debug` shows the traceback), 130 interrupted (SIGINT), 143
terminated (SIGTERM). A signal ends the run through an exception (mlxa/interrupts.py), so
atomic writes clean up and nothing partial is left on disk.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from mlxa import __version__
from mlxa.errors import MlxaError, Terminated
from mlxa.interrupts import raised_as_exceptions, signal_in_chain
from mlxa.machine.blas import choose_blas_core

# Each is a module cli/<name>_cmd.py; a command whose module is not there yet is left out.
COMMANDS = ("analyze", "show", "plan", "models", "memory", "machine", "roofline", "fusion",
            "quantize", "layout", "sparsity", "kernels", "report", "sweep")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's usage dump is not one line
        raise MlxaError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mlxa", description="ML eXecution Analyzer")
    parser.add_argument("--version", action="version", version=f"mlxa {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an internal error (anywhere on the line)")
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
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    choose_blas_core(argv)  # before numpy loads its BLAS
    try:
        with raised_as_exceptions():
            args = build_parser().parse_args(argv)
            return int(args.run(args))
    except MlxaError as e:
        return _fail(str(e))
    except KeyboardInterrupt as e:  # SIGINT, or SIGTERM as Terminated
        return _signal_exit(e)
    except Exception as e:  # a bug of ours, not the user's input
        # Python wraps a signal raised inside some machinery (a class body's __set_name__ while
        # torch is imported at bind time) in a RuntimeError: it still reads as the signal
        signalled = signal_in_chain(e)
        if signalled is not None:
            return _signal_exit(signalled)
        if debug:
            traceback.print_exc()
        return _fail(f"internal error: {type(e).__name__}: {_one_line(str(e))} "
                     "(rerun with --debug for the traceback)", code=3)


def _signal_exit(e: KeyboardInterrupt) -> int:
    if isinstance(e, Terminated):
        return _fail("terminated", code=143)
    return _fail("interrupted", code=130)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def _fail(message: str, code: int = 2) -> int:
    print(f"mlxa: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
