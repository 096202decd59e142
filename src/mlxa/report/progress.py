"""Progress of long steps on a terminal, with an estimate of the time left.

A step reports through a plain callback, `progress(stage, done, total)`: `stage` names the step in
words, `done` of `total` units are finished (`total` None: unknown). The default, `no_progress`,
does nothing, so measuring code calls it unconditionally and stays silent in tests and pipes.
`terminal_progress` yields a callback that draws bars with rich on stderr when stderr is a
terminal and rich is installed (`pip install 'mlxa[progress]'`); otherwise it yields
`no_progress`. The bars are transient: they vanish when the step ends, so a report printed after
them reads as without them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

Progress = Callable[[str, float, "float | None"], None]
REFRESH_S = 0.1


def no_progress(stage: str, done: float, total: float | None) -> None:
    """The silent default."""


@contextmanager
def terminal_progress(enabled: bool = True, stream: IO[str] | None = None) -> Iterator[Progress]:
    """Bars on `stream` (default stderr) when enabled, a terminal and rich is there."""
    stream = sys.stderr if stream is None else stream
    if not enabled or not _is_terminal(stream):
        yield no_progress
        return
    try:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TaskID,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
    except ImportError:
        yield no_progress
        return
    columns = (TextColumn("{task.description:<24}"), BarColumn(),
               TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
               TextColumn("left"), TimeRemainingColumn())
    # No refresh thread: it would run (and allocate) during timed and traced calls. The bars are
    # drawn from the callback, at most every REFRESH_S, which steps call between measured calls.
    with Progress(*columns, console=Console(file=stream), transient=True,
                  auto_refresh=False) as bars:
        tasks: dict[str, TaskID] = {}
        last = [0.0]

        def update(stage: str, done: float, total: float | None) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total)
            done = min(done, total) if total is not None else done
            bars.update(tasks[stage], completed=done, total=total)
            now = time.monotonic()
            if now - last[0] >= REFRESH_S or done == total:
                last[0] = now
                bars.refresh()

        yield update


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False
