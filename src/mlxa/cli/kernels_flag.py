"""`--kernels` on the commands that run the compiled executor: which custom kernels
(mlxa.kernels) it may bind. Every one by default, each kept only where its bind-time trial finds
it faster; `none` runs the op table's numpy kernels alone (the compiler's passes without custom
kernels)."""

from __future__ import annotations

import argparse


def add_kernels_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kernels", default="all", metavar="all|none|NAMES",
                   help="custom kernels the compiled executor may bind: all (default), none, or "
                        "a comma list of techniques (numba, prepack, epilogue) and kernel names "
                        "(`mlxa kernels --list`)")


def kernel_selection(args: argparse.Namespace) -> tuple[str, ...]:
    from mlxa.kernels import library  # noqa: F401  (registers the kernels)
    from mlxa.kernels.registry import parse_selection

    return parse_selection(args.kernels)
