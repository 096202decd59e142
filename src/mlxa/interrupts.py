"""SIGINT and SIGTERM end a run through an exception (KeyboardInterrupt, Terminated), so every
`finally` and atomic write cleans up and nothing partial is left on disk: `raised_as_exceptions`
around the run (cli/main.py).

An exception raised at the wrong place is lost or does harm, so the handler holds the signal
back, trying again RETRY_S later, where it lands:
- inside an import begun in the block: a library's import can run C++ that calls back into
  Python (torch's distributed init does, and kernels import torch at bind time, mid-run), and an
  exception there cannot unwind through the C++: with SIGTERM the process aborted with a C++
  trace, with SIGINT Python marked the interrupt unhandled and killed itself with SIGINT at exit,
  whatever the run returned;
- inside a finalizer (`__del__`), where Python prints the exception and drops it;
- inside llvmlite, a thin layer over LLVM's C API whose callbacks from C drop the exception and
  whose objects it leaves half built (their finalizers then fail at exit); Numba compiles through
  it at bind time;
- inside a `held()` region: code whose callbacks from C would drop it the same way, or that an
  exception would leave half built (llvmlite's compilation, llvm_ir.compile_function);
- while the exception of an earlier signal is already on its way out (an `except` or `finally`
  cleaning up).
Anywhere else it raises, and tries again WATCH_S later in case some other callback from C
swallowed the exception (Numba's compiler runs llvmlite's, mid-bind); Python's report of the
swallowed exception ("Exception ignored in ...") is left out, since the signal is not lost.
Leaving the block cancels every retry. Retries go through `_thread.interrupt_main`, which does
nothing once the previous handlers are back.
"""

from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from types import FrameType
from typing import Any

from mlxa.errors import Terminated

RETRY_S = 0.05
WATCH_S = 0.25
_RAISES: dict[int, type[KeyboardInterrupt]] = {signal.SIGINT: KeyboardInterrupt,
                                               signal.SIGTERM: Terminated}
_IMPORT_SYSTEM = "<frozen importlib._bootstrap"
_LLVMLITE = f"{os.sep}llvmlite{os.sep}"


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()  # the handler may run while the main thread holds it
        self.active = False
        self.held = 0
        self.imports_outside = 0  # import frames above the block (a run started by an import)
        self.retries: list[threading.Timer] = []


_state = _State()


def import_depth(frame: FrameType | None) -> int:
    """How many of the import system's frames are on the stack from `frame` up."""
    depth = 0
    while frame is not None:
        depth += frame.f_code.co_filename.startswith(_IMPORT_SYSTEM)
        frame = frame.f_back
    return depth


def _must_wait(frame: FrameType | None) -> bool:
    if _state.held:
        return True
    depth = 0
    while frame is not None:
        code = frame.f_code
        if code.co_name == "__del__" or _LLVMLITE in code.co_filename:
            return True
        depth += code.co_filename.startswith(_IMPORT_SYSTEM)
        frame = frame.f_back
    return depth > _state.imports_outside


def _on_its_way_out() -> bool:
    """Whether the exception being handled (an except or finally block running) is a signal's,
    itself or as the cause of another."""
    error, seen = sys.exc_info()[1], set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _later(signum: int, delay: float) -> None:
    retry = threading.Timer(delay, _resend, (signum,))
    retry.daemon = True
    with _state.lock:
        _state.retries.append(retry)
    retry.start()


def _resend(signum: int) -> None:
    with _state.lock:
        if _state.active:
            _thread.interrupt_main(signal.Signals(signum))


def _handle(signum: int, frame: FrameType | None) -> None:
    if not _state.active:  # the block is closing: its run is over
        return
    if _must_wait(frame) or _on_its_way_out():
        _later(signum, RETRY_S)
        return
    _later(signum, WATCH_S)
    raise _RAISES[signum]()


@contextmanager
def raised_as_exceptions() -> Iterator[None]:
    """Within the block, SIGINT raises KeyboardInterrupt and SIGTERM Terminated, where that is
    safe (module docstring). On leaving, retries are cancelled and the previous handlers come
    back; a signal on the way out is dropped, its run being over. Outside the main thread,
    where handlers cannot be set, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in _RAISES}
    report_unraisable = sys.unraisablehook
    _state.imports_outside = import_depth(sys._getframe())
    for s in _RAISES:
        signal.signal(s, _handle)
    sys.unraisablehook = partial(_unraisable, report_unraisable)
    _state.active = True
    try:
        yield
    finally:
        while True:  # a signal raised on the way out of the block: the run is over anyway
            try:
                _close(previous, report_unraisable)
                break
            except KeyboardInterrupt:
                continue


def _unraisable(report: Callable[[Any], None], unraisable: Any) -> None:
    """A signal's exception swallowed where it was raised is not reported: WATCH_S brings the
    signal back."""
    if not isinstance(unraisable.exc_value, KeyboardInterrupt):
        report(unraisable)


def _close(previous: dict[int, Any], report_unraisable: Callable[[Any], None]) -> None:
    with _state.lock:
        _state.active = False
        for retry in _state.retries:
            retry.cancel()
        _state.retries.clear()
    for s, handler in previous.items():
        signal.signal(s, handler)
    sys.unraisablehook = report_unraisable


@contextmanager
def held() -> Iterator[None]:
    """A region a signal waits out (tried again every RETRY_S until the region ends)."""
    _state.held += 1
    try:
        yield
    finally:
        _state.held -= 1
