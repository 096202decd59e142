"""A bound kernel call: the numpy calls of one kernel invocation with every argument (views into
the inputs, outputs and workspace) made ahead, so running it costs the numpy calls only.

The compiled executor passes the same arrays to a kernel on every inference, so a kernel may
keep its bound call, keyed on the identity of those arrays and of its attributes (`kept`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

Step = Callable[[], object]

KEPT_WORKSPACES = 4  # workspaces whose bound calls are kept; the oldest goes first
_KEPT: dict[int, tuple[object, dict[tuple[object, ...], tuple[tuple[object, ...], Step]]]] = {}


def sequence(steps: Sequence[Step]) -> Callable[[], None]:
    """One call that runs the steps in order."""
    return functools.partial(_run, tuple(steps))


def _run(steps: tuple[Step, ...]) -> None:
    for step in steps:
        step()


def kept(op: str, refs: tuple[object, ...], workspace: np.ndarray,
         bind: Callable[[], Step]) -> Step:
    """`bind()` once per op and identity of `refs` (inputs, outputs, attributes) and workspace.
    An entry holds its refs, so no other object can take their ids while it lives; a call with
    other arrays binds anew. The arrays' values are read when the call runs.
    Entries are grouped by the memory the workspace views (a compiled model's arena), and the
    groups of only the last KEPT_WORKSPACES are kept: a bound call keeps its arrays alive, so
    keeping every model's would keep every arena."""
    owner = workspace if workspace.base is None else workspace.base
    group = _KEPT.get(id(owner))
    if group is None:
        if len(_KEPT) >= KEPT_WORKSPACES:
            del _KEPT[next(iter(_KEPT))]
        group = _KEPT[id(owner)] = (owner, {})
    calls = group[1]
    key = (op, id(workspace), *map(id, refs))
    hit = calls.get(key)
    if hit is not None:
        return hit[1]
    run = bind()
    calls[key] = ((workspace, *refs), run)
    return run
