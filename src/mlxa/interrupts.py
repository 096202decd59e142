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
  exception would leave half built (llvmlite's compilation, llvm_ir.compile_function), or whose
  bookkeeping must match the disk (each step of atomic.write_files); it raises as the region
  ends;
- while the exception of an earlier signal is already on its way out (an `except` or `finally`
  cleaning up).
Anywhere else it raises, and tries again WATCH_S later in case some other callback from C
swallowed the exception; Python's report of the swallowed exception ("Exception ignored in
...") is left out, since the signal comes back.
Leaving the block cancels every retry, and none is sent once it starts closing: a signal still
held back then, or raised and swallowed less than WATCH_S before the end, is dropped (the run
is over; its own exit stands).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import CodeType, FrameType
from typing import Any

from mlxa.errors import Terminated

RETRY_S = 0.05
WATCH_S = 0.25
_RAISES: dict[int, type[KeyboardInterrupt]] = {signal.SIGINT: KeyboardInterrupt,
                                               signal.SIGTERM: Terminated}
_IMPORT_SYSTEM = "<frozen importlib._bootstrap"


@functools.cache
def _llvmlite_dir() -> str:
    """The installed llvmlite package's folder (without one, a string no path starts with)."""
    spec = importlib.util.find_spec("llvmlite")
    origin = spec.origin if spec is not None else None
    return os.path.dirname(origin) + os.sep if origin else "\0"


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()  # the handler may run while the main thread holds it
        self.active = False
        self.held = 0
        self.waiting: int | None = None  # a signal held back, to raise where it can
        self.imports_outside = 0  # import frames above the block (a run started by an import)
        self.retries: list[threading.Timer] = []


_state = _State()


def _stack(frame: FrameType | None) -> Iterator[CodeType]:
    """The code of `frame` and of every frame above it."""
    while frame is not None:
        yield frame.f_code
        frame = frame.f_back


def import_depth(frame: FrameType | None) -> int:
    """How many of the import system's frames are on the stack from `frame` up."""
    return sum(code.co_filename.startswith(_IMPORT_SYSTEM) for code in _stack(frame))


def _must_wait(frame: FrameType | None) -> bool:
    return bool(_state.held) or any(
        code.co_name == "__del__" or code.co_filename.startswith(_llvmlite_dir())
        for code in _stack(frame)) or import_depth(frame) > _state.imports_outside


def _on_its_way_out() -> bool:
    """Whether the exception being handled (an except or finally block running) is a signal's,
    itself or as the cause of another."""
    return signal_in_chain(sys.exc_info()[1]) is not None


def signal_in_chain(error: BaseException | None) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt (or Terminated) among `error` and its causes and contexts."""
    todo, seen = [error], set()
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        if isinstance(e, KeyboardInterrupt):
            return e
        seen.add(id(e))
        todo += [e.__cause__, e.__context__]
    return None


def _later(signum: int, delay: float) -> None:
    retry = threading.Timer(delay, _resend, (signum,))
    retry.daemon = True
    with _state.lock:
        _state.retries.append(retry)
    retry.start()


def _resend(signum: int) -> None:
    """The signal again, to the main thread itself (a blocking wait there wakes for it, as it
    would not for `_thread.interrupt_main`); never once the block is closing."""
    with _state.lock:
        if _state.active:
            signal.pthread_kill(threading.main_thread().ident or 0, signum)


def _handle(signum: int, frame: FrameType | None) -> None:
    if not _state.active:  # the block is closing: its run is over
        return
    if _must_wait(frame) or _on_its_way_out():
        _state.waiting = signum
        _later(signum, RETRY_S)
        return
    _state.waiting = None
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
    _llvmlite_dir()  # looked up now, not in the handler
    report_unraisable = sys.unraisablehook
    _state.imports_outside = import_depth(sys._getframe())
    _state.active = True  # before the handlers: a signal at once is not dropped
    for s in _RAISES:
        signal.signal(s, _handle)
    sys.unraisablehook = functools.partial(_unraisable, report_unraisable)
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
        _state.waiting = None
        for retry in _state.retries:
            retry.cancel()
        _state.retries.clear()
    for s, handler in previous.items():
        signal.signal(s, handler)
    sys.unraisablehook = report_unraisable


@contextmanager
def held() -> Iterator[None]:
    """A region a signal waits out: one that came meanwhile raises as the region ends (where it
    can), so the code after the region does not run first."""
    _state.held += 1
    try:
        yield
    finally:
        _state.held -= 1
    if not _state.held and _state.waiting is not None:
        _handle(_state.waiting, sys._getframe())
