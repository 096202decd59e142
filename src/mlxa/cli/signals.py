"""SIGINT and SIGTERM end a run through an exception (KeyboardInterrupt, Terminated), so every
`finally` and atomic write cleans up and nothing partial is left on disk.

Never inside an import. A library's import can run C++ that calls back into Python (torch's
distributed init does, and kernels import torch at bind time, mid-run); an exception raised in
that callback cannot unwind through the C++: with SIGTERM the process aborts with a C++ trace,
with SIGINT Python marks the interrupt unhandled and kills itself with SIGINT at exit, whatever
the run returned. A signal that lands in an import is sent again RETRY_S later, until it lands
outside one.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from mlxa.errors import Terminated

RETRY_S = 0.05
_RAISES: dict[int, type[KeyboardInterrupt]] = {signal.SIGINT: KeyboardInterrupt,
                                               signal.SIGTERM: Terminated}
_retries: list[threading.Timer] = []


def in_import(frame: FrameType | None) -> bool:
    """Whether `frame` runs inside an import statement (the import system's frames are above)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib._bootstrap"):
            return True
        frame = frame.f_back
    return False


def _handle(signum: int, frame: FrameType | None) -> None:
    if in_import(frame):
        retry = threading.Timer(RETRY_S, os.kill, (os.getpid(), signum))
        retry.daemon = True
        _retries.append(retry)
        retry.start()
        return
    raise _RAISES[signum]()


@contextmanager
def raised_as_exceptions() -> Iterator[None]:
    """Within the block, SIGINT raises KeyboardInterrupt and SIGTERM Terminated, outside imports.
    On leaving, the previous handlers come back and a signal still waiting to be sent again is
    dropped: the run it would have stopped is over."""
    previous = {s: signal.signal(s, _handle) for s in _RAISES}
    try:
        yield
    finally:
        for retry in _retries:
            retry.cancel()
        _retries.clear()
        for s, handler in previous.items():
            signal.signal(s, handler)
