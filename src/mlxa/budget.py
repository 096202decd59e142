"""The memory budget: how many bytes this process may still allocate, and the one check every
allocation that input drives goes through before it happens (model building, constant folding,
external data, weights files, inputs, the arena).

The budget is the smallest of: MemAvailable (/proc/meminfo), the address-space limit
(RLIMIT_AS) less what the process already maps, and the cgroup's memory limit (v2 memory.max,
v1 memory.limit_in_bytes) less its current use. `MLXA_MEMORY_BUDGET` (bytes) lowers it further,
for tests and for users who share a machine.
"""

from __future__ import annotations

import os
import resource

from mlxa.errors import UserInputError
from mlxa.units import format_nbytes

UNLIMITED = 1 << 62


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as f:
            text = f.read(64).strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _meminfo_available() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return UNLIMITED


def _mapped_nbytes() -> int:
    """Virtual memory the process maps now (VmSize), which RLIMIT_AS counts."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _rlimit_left() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return UNLIMITED
    return max(0, soft - _mapped_nbytes())


def _cgroup_left() -> int:
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                          "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        cap = _read_int(limit)
        if cap is not None and cap < UNLIMITED:
            return max(0, cap - (_read_int(usage) or 0))
    return UNLIMITED


def available_nbytes() -> int:
    """Bytes this process may still allocate: the smallest of the limits above."""
    left = min(_meminfo_available(), _rlimit_left(), _cgroup_left())
    override = os.environ.get("MLXA_MEMORY_BUDGET", "").strip()
    if override.isdigit():
        left = min(left, int(override))
    return left


def check_fits(what: str, need_nbytes: int) -> None:
    """UserInputError naming `what` when `need_nbytes` exceed the budget; call it before the
    allocation, never after."""
    have = available_nbytes()
    if need_nbytes > have:
        raise UserInputError(f"{what} needs about {format_nbytes(need_nbytes)}, more than the "
                             f"{format_nbytes(have)} of memory available")


def run_need_nbytes(param_nbytes: int, activation_nbytes: int, input_nbytes: int) -> int:
    """What analyzing a model holds at most: its parameters, the eager activations and at most
    as much again for the compiled plan and the float64 reference, and the inputs twice (the
    caller's and the executor's copy). The one estimate every model source uses."""
    return param_nbytes * 3 + 3 * activation_nbytes + 2 * input_nbytes
