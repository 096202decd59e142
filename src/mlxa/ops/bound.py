"""A bound kernel call: the numpy calls of one kernel invocation with every argument (views into
the inputs, outputs and workspace) made ahead, so running it costs the numpy calls only. Ops
build them in their `bind` hooks (ops/table.py), once per compiled program.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

Step = Callable[[], object]


def sequence(steps: Sequence[Step]) -> Callable[[], None]:
    """One call that runs the steps in order."""
    return functools.partial(_run, tuple(steps))


def _run(steps: tuple[Step, ...]) -> None:
    for step in steps:
        step()
