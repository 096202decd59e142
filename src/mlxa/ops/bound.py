"""A bound kernel call: the numpy calls of one kernel invocation with every argument (views into
the inputs, outputs and workspace) made ahead, so running it costs the numpy calls only.

The compiled executor passes the same arrays to a kernel on every inference, so a kernel may
keep its bound call, keyed on the identity of those arrays and of its attributes (`kept`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

Step = Callable[[], object]

KEPT_CALLS = 1024  # bound calls kept (each keeps its arrays alive); the oldest goes first
_KEPT: dict[tuple[object, ...], tuple[tuple[object, ...], Step]] = {}


def sequence(steps: Sequence[Step]) -> Callable[[], None]:
    """One call that runs the steps in order."""
    return functools.partial(_run, tuple(steps))


def _run(steps: tuple[Step, ...]) -> None:
    for step in steps:
        step()


def kept(op: str, refs: tuple[object, ...], bind: Callable[[], Step]) -> Step:
    """`bind()` once per op and identity of `refs` (inputs, outputs, workspace, attributes).
    The entry holds refs, so no other object can take their ids while it lives; a call with
    other arrays (eager execution) binds anew. The arrays' values are read when the call runs."""
    key = (op, *map(id, refs))
    hit = _KEPT.get(key)
    if hit is not None:
        return hit[1]
    run = bind()
    if len(_KEPT) >= KEPT_CALLS:
        del _KEPT[next(iter(_KEPT))]
    _KEPT[key] = (refs, run)
    return run
