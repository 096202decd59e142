"""Where a kernel pays, decided by measuring it: at bind time a candidate call and the op
table's own call take turns on the bound arrays (after one warm call each), and the one with the
lower mean over TRIALS turns is kept: the mean, not the median, so that a call whose time is
erratic (oneDNN's product of one row ran 2 ms at best and 14 ms at the median here) loses to a
steady one. The arrays hold whatever the arena held (every value is
recomputed on each inference), so floating-point warnings are silenced for the trial."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from mlxa.kernels.local import ThreadStack
from mlxa.ops.bound import Step

TRIALS = 7
_FORCED: ThreadStack[bool] = ThreadStack()


@contextmanager
def forced() -> Iterator[None]:
    """Within: every trial this thread runs keeps the candidate (a study timing a kernel
    itself)."""
    with _FORCED.pushed(True):
        yield


class Bound(functools.partial):  # type: ignore[type-arg]
    """A bound call and the variant it runs (a kernel's name, "onednn_packed", or "numpy"): a
    functools.partial of the call, so that calling it adds no Python frame of ours. partial
    flattens a partial it wraps (a Bound, a compiled kernel's Call) into its own function and
    arguments: a kernel's call through two trials' Bounds takes 0.14 us, as the call alone,
    against 0.37 as Python methods. `run` holds the call itself, and with it what the call's
    arguments point into (a Call's slots)."""

    __slots__ = ("variant", "run")
    variant: str
    run: Step

    def __new__(cls, run: Step, variant: str) -> Bound:
        self = super().__new__(cls, run)
        self.variant, self.run = variant, run
        return self

    def __reduce__(self) -> tuple[Any, ...]:  # copies and pickles as (run, variant)
        return type(self), (self.run, self.variant)

    def __repr__(self) -> str:
        return f"Bound({self.run!r}, {self.variant!r})"


def faster(a: Step, b: Step, trials: int = TRIALS, clear: float = 2.0) -> bool:
    """Whether `a` has the lower mean over `trials` alternating calls; decided after the
    first turn when one side is `clear` times faster (big layers at batch 32 cost a second a
    turn, and such a gap is not noise)."""
    ta: list[float] = []
    tb: list[float] = []
    with np.errstate(all="ignore"):
        a(), b()
        for turn in range(trials):
            for fn, times in ((a, ta), (b, tb)):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            if turn == 0 and max(ta[0], tb[0]) > clear * min(ta[0], tb[0]):
                break
    return float(np.mean(ta)) < float(np.mean(tb))


def against_default(candidate: Callable[[], Step], name: str,
                    default: Callable[[], tuple[Step, str]]) -> Bound:
    """A kernel's call (`candidate()`) against what would bind without it (`default()`: its
    call and the name of what it runs), kept as keep_faster keeps one (`keep_fastest`: only the
    kept one's scratch is counted; the executor counts it as the node's where what ran is a
    kernel of mlxa's loops, the candidate or a default such as conv_direct)."""
    return keep_fastest((lambda: (candidate(), name), default), _keeps_first)


def where_contiguous(arrays: tuple[np.ndarray, ...], candidate: Callable[[], Step], name: str,
                     default: Callable[[], tuple[Step, str]], takes: bool = True) -> Bound:
    """against_default where the kernel `takes` the node and every array of `arrays` (its
    loops' input and output) is C-contiguous; else the default alone, named for what it ran."""
    if not (takes and all(a.flags.c_contiguous for a in arrays)):
        return Bound(*default())
    return against_default(candidate, name, default)


def keep_fastest(bindings: Sequence[Callable[[], tuple[Step, str]]],
                 first_wins: Callable[[Step, Step], bool]) -> Bound:
    """Bindings of one node (each a call and its name), each bound inside a recording of its
    own (kernels/generated.py), each tried against the one kept so far (`first_wins(kept,
    next)`); the one kept at the end, with only its scratch counted into the open
    recording."""
    from mlxa.kernels.generated import bound_with_scratch, count

    kept: tuple[tuple[Step, str], list[int]] | None = None
    for bind in bindings:
        bound = bound_with_scratch(bind)
        if kept is None or not first_wins(kept[0][0], bound[0][0]):
            kept = bound
    if kept is None:
        raise ValueError("keep_fastest: no bindings")
    (step, name), sizes = kept
    for nbytes in sizes:
        count(nbytes)
    return Bound(step, name)


def keep_faster(candidate: Step, name: str, default: Step) -> Bound:
    """The candidate as `name`, or the op table's call as "numpy", whichever ran faster."""
    return Bound(candidate, name) if _keeps_first(candidate, default) else Bound(default, "numpy")


def _keeps_first(candidate: Step, default: Step) -> bool:
    """Whether a trial keeps the candidate: always within `forced`, else if it ran faster."""
    return bool(_FORCED.top()) or faster(candidate, default)
