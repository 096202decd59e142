"""A signal never raises inside an import (a library's C++ may be calling back into Python
there, and cannot unwind an exception): it is sent again, and raises once the import is done."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlxa.cli.signals import in_import

ROOT = Path(__file__).resolve().parents[1]

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

SCRIPT = """
import sys, time
sys.path.insert(0, {tmp!r})
from mlxa.cli.signals import raised_as_exceptions
try:
    with raised_as_exceptions():
        import slow_module
        print("imported", slow_module.done, flush=True)
        {after}
    time.sleep(0.3)
    print("left the block", flush=True)
except KeyboardInterrupt as e:
    print("raised", type(e).__name__, flush=True)
"""


def _run(tmp_path: Path, sig: int, after: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "slow_module.py").write_text(SLOW_MODULE)
    script = SCRIPT.format(tmp=str(tmp_path), after=after)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script), str(sig)],
                          capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("sig,raised", [(signal.SIGINT, "KeyboardInterrupt"),
                                        (signal.SIGTERM, "Terminated")])
def test_a_signal_mid_import_raises_after_the_import(tmp_path, sig, raised) -> None:
    busy = "start = time.monotonic()\n        while time.monotonic() - start < 10: pass"
    proc = _run(tmp_path, sig, busy)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["imported True", f"raised {raised}"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_still_waiting_when_the_block_ends_is_dropped(tmp_path, sig) -> None:
    proc = _run(tmp_path, sig, "pass")  # leaves the block before the signal is sent again
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["imported True", "left the block"]


def test_in_import_sees_the_import_system_above() -> None:
    assert not in_import(sys._getframe())
    assert not in_import(None)
