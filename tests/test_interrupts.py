"""A signal raises where its exception can travel: it waits out an import (a library's C++ may
be calling back into Python there), a finalizer and a held region, then raises; one swallowed by
a callback from C is raised again; a signal left when the block ends is dropped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from mlxa.interrupts import import_depth, raised_as_exceptions

ROOT = Path(__file__).resolve().parents[1]
SIGNALS = [(signal.SIGINT, "KeyboardInterrupt"), (signal.SIGTERM, "Terminated")]

# Sends the signal to itself mid-import, then runs bytecode for a while: a handler that raised
# at once would stop the import here.
SLOW_MODULE = """
import os, sys, time
os.kill(os.getpid(), int(sys.argv[1]))
start = time.monotonic()
while time.monotonic() - start < 0.3:
    pass
done = True
"""

PRELUDE = """
import ctypes, gc, os, sys, time
sys.path.insert(0, {tmp!r})
from mlxa.interrupts import held, raised_as_exceptions
SIG = int(sys.argv[1])

def busy(seconds):
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        pass
"""


def _run(tmp_path: Path, sig: int, body: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "slow_module.py").write_text(SLOW_MODULE)
    script = PRELUDE.format(tmp=str(tmp_path)) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script, str(sig)], capture_output=True,
                          text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})


def _raised_after(lines: list[str], marker: str, raised: str) -> bool:
    """The work printed `marker` whole, then the signal raised: at once, or after "finished"
    (the retry lands right after the work or a moment later)."""
    return lines in ([marker, f"raised {raised}"], [marker, "finished", f"raised {raised}"])


def _lines(tmp_path: Path, sig: int, body: str) -> list[str]:
    proc = _run(tmp_path, sig, body)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


GUARDED = """
try:
    with raised_as_exceptions():
        {work}
        print("finished", flush=True)
        busy(10)
        print("not raised", flush=True)
except KeyboardInterrupt as e:
    print("raised", type(e).__name__, flush=True)
"""


@pytest.mark.parametrize("sig,raised", SIGNALS)
def test_a_signal_mid_import_raises_after_the_import(tmp_path, sig, raised) -> None:
    work = "import slow_module; print('imported', slow_module.done, flush=True)"
    assert _raised_after(_lines(tmp_path, sig, GUARDED.format(work=work)), "imported True",
                         raised)


@pytest.mark.parametrize("sig,raised", SIGNALS)
def test_a_signal_in_a_finalizer_raises_after_it(tmp_path, sig, raised) -> None:
    body = """
    class Late:
        def __del__(self):
            os.kill(os.getpid(), SIG)
            busy(0.1)
            print("finalized", flush=True)
    """
    work = "Late(); gc.collect()"
    lines = _lines(tmp_path, sig, textwrap.dedent(body) + GUARDED.format(work=work))
    assert _raised_after(lines, "finalized", raised)


@pytest.mark.parametrize("sig,raised", SIGNALS)
def test_a_signal_in_a_held_region_raises_after_it(tmp_path, sig, raised) -> None:
    work = "with held(): os.kill(os.getpid(), SIG); busy(0.2); print('held', flush=True)"
    assert _raised_after(_lines(tmp_path, sig, GUARDED.format(work=work)), "held", raised)


@pytest.mark.parametrize("sig,raised", SIGNALS)
def test_a_signal_inside_llvmlite_raises_after_it_returns(tmp_path, sig, raised) -> None:
    """Code from a file in llvmlite's folder (a stand-in folder here, named as the package's)."""
    lib = tmp_path / "site" / "llvmlite"
    lib.mkdir(parents=True)
    (lib / "binding_like.py").write_text(
        "import os, sys, time\n"
        "def build():\n"
        "    os.kill(os.getpid(), int(sys.argv[1]))\n"
        "    start = time.monotonic()\n"
        "    while time.monotonic() - start < 0.2:\n"
        "        pass\n"
        "    print('built', flush=True)\n")
    body = f"""
    import importlib.util
    spec = importlib.util.spec_from_file_location("binding_like", {str(lib / "binding_like.py")!r})
    binding_like = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(binding_like)
    import mlxa.interrupts
    mlxa.interrupts._llvmlite_dir = lambda: {str(lib) + os.sep!r}
    """
    work = GUARDED.format(work="binding_like.build()")
    lines = _lines(tmp_path, sig, textwrap.dedent(body) + work)
    assert _raised_after(lines, "built", raised)


@pytest.mark.parametrize("sig,raised", SIGNALS)
def test_a_signal_a_c_callback_swallows_is_raised_again(tmp_path, sig, raised) -> None:
    """qsort's comparator, called from C, drops the exception raised in it: the signal comes
    back WATCH_S later and raises where it can travel, and Python's report of the dropped
    exception is left out."""
    body = """
    sent = []
    def compare(a, b):
        if not sent:
            sent.append(1)
            os.kill(os.getpid(), SIG)
            sum(range(100))
        return 0
    items = (ctypes.c_int * 4)(4, 3, 2, 1)
    CMP = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
    """
    work = "ctypes.CDLL(None).qsort(items, 4, 4, CMP(compare)); print('sorted', flush=True)"
    proc = _run(tmp_path, sig, textwrap.dedent(body) + GUARDED.format(work=work))
    assert _raised_after(proc.stdout.splitlines(), "sorted", raised)
    assert proc.returncode == 0 and proc.stderr == ""  # Python's "Exception ignored" left out


@pytest.mark.parametrize("sig,raised", SIGNALS)
def test_a_run_started_by_an_import_still_raises(tmp_path, sig, raised) -> None:
    """The import frames above the block do not count: only an import begun inside it."""
    (tmp_path / "runs_on_import.py").write_text(textwrap.dedent(
        PRELUDE.format(tmp=str(tmp_path)) + GUARDED.format(work="os.kill(os.getpid(), SIG)")))
    assert _lines(tmp_path, sig, "import runs_on_import") == [f"raised {raised}"]  # at once


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_still_waiting_when_the_block_ends_is_dropped(tmp_path, sig) -> None:
    body = """
    with held():
        with raised_as_exceptions():
            os.kill(os.getpid(), SIG)
            busy(0.2)
    busy(0.5)
    print("left the block", flush=True)
    """
    assert _lines(tmp_path, sig, body) == ["left the block"]


def test_outside_the_main_thread_the_block_changes_nothing() -> None:
    before = signal.getsignal(signal.SIGTERM)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with raised_as_exceptions():
                pass
        except BaseException as e:  # reported by the assert below
            errors.append(e)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    assert errors == [] and signal.getsignal(signal.SIGTERM) is before


def test_import_depth_counts_the_import_system_above(tmp_path, monkeypatch) -> None:
    assert import_depth(sys._getframe()) == 0
    assert import_depth(None) == 0
    (tmp_path / "depth_at_import.py").write_text(
        "import sys\nfrom mlxa.interrupts import import_depth\n"
        "depth = import_depth(sys._getframe())\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import depth_at_import  # type: ignore[import-not-found]

    assert depth_at_import.depth > 0


@pytest.mark.parametrize("sig,raised", SIGNALS)
def test_a_signal_right_after_a_file_is_replaced_puts_every_file_back(tmp_path, sig,
                                                                      raised) -> None:
    """atomic.write_files: the signal lands as the first of two files is put in place (right
    after os.replace returns); it raises before the second, and the rollback restores both old
    files and leaves no temp or backup file."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "a").write_text("old a")
    (out / "b").write_text("old b")
    body = f"""
    from pathlib import Path
    import mlxa.atomic as atomic
    replace = os.replace
    class Os:
        def __getattr__(self, name):
            return getattr(os, name)
        def replace(self, src, dst):
            replace(src, dst)
            if dst.name == "a":
                os.kill(os.getpid(), SIG)
    atomic.os = Os()
    out = Path({str(out)!r})
    """
    work = "atomic.write_files({out / 'a': b'new a', out / 'b': b'new b'})"
    assert _lines(tmp_path, sig, textwrap.dedent(body) + GUARDED.format(work=work)) == [
        f"raised {raised}"]
    assert {p.name: p.read_text() for p in out.iterdir()} == {"a": "old a", "b": "old b"}
