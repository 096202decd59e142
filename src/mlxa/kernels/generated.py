"""Loading generated Numba source: the one place kernels that write their loops as Python source
(kernels/chain.py, kernels/conv_direct_loops.py) turn it into a function.

The source is written once to $MLXA_CACHE_DIR/kernels (or ~/.cache/mlxa/kernels), named by a
hash of the source and of the files its code calls into, and imported from there, so that
Numba's own cache (`cache=CACHE` in the generated decorator) keeps the machine code between
runs. Where that directory cannot be written, the source is compiled in memory without Numba's
cache. One function per source per process.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from mlxa.kernels.local import ThreadStack
from mlxa.machine.cache import cache_dir

T = TypeVar("T")

_LOADED: dict[str, Callable[..., Any]] = {}


def load(kind: str, src: str, prelude: str, entry: str,
         depends: bytes = b"") -> Callable[..., Any]:
    """`entry` of `prelude + src` (the prelude imports what the source calls; `depends`: the
    bytes of those files, so that a change to them makes a new module)."""
    key = hashlib.sha256(prelude.encode() + src.encode() + depends).hexdigest()[:20]
    name = f"{kind}_{key}"
    if name in _LOADED:
        return _LOADED[name]
    fn = _from_file(name, prelude + "CACHE = True\n\n\n" + src, entry)
    if fn is None:
        namespace: dict[str, Any] = {"CACHE": False}
        exec(compile(prelude + src, f"<mlxa {name}>", "exec"), namespace)
        fn = namespace[entry]
    _LOADED[name] = fn
    return fn


def _from_file(name: str, text: str, entry: str) -> Callable[..., Any] | None:
    folder = cache_dir() / "kernels"
    path = folder / f"{name}.py"
    try:
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, path)  # another process may write the same text: either wins
        module_name = f"mlxa_{name}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            return None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        return getattr(module, entry)  # type: ignore[no-any-return]
    except OSError:
        return None


_CARVED: ThreadStack[list[int]] = ThreadStack()  # the open recordings, this thread's


@contextmanager
def recording() -> Iterator[list[int]]:
    """Within: the bytes of every buffer `carve` hands out are appended to the list yielded,
    so that the executor knows the scratch a kernel's loops write and read (the roofline counts
    it as traffic, as it counts the op table's scratch)."""
    with _CARVED.pushed([]) as carved:
        yield carved


def bound_with_scratch(bind: Callable[[], T]) -> tuple[T, list[int]]:
    """`bind()` inside a recording of its own: what it returns and the scratch it carved, to
    be `count`ed into the open recording only if the bound call is kept (a trial's loser's
    scratch is not the node's)."""
    with recording() as carved:
        result = bind()
    return result, carved


def count(nbytes: int) -> None:
    """Record `nbytes` of scratch a kernel owns (allocated at bind time, not carved from the
    planned workspace) in the open recording, if any."""
    open_ = _CARVED.top()
    if open_ is not None:
        open_.append(nbytes)


def carve(workspace: Any, *sizes: int) -> list[Any]:
    """float32 buffers of `sizes`, 64-byte aligned, carved from a kernel's planned scratch
    (a uint8 array) when it is large enough, else allocated once here at bind time."""
    import numpy as np

    total = sum(sizes)
    count(4 * total)
    if workspace is None or workspace.nbytes < 4 * total + 64:
        workspace = np.empty(4 * total + 64, np.uint8)
    start = -workspace.ctypes.data % 64
    flat = workspace[start:start + 4 * total].view(np.float32)
    bounds = np.cumsum((0, *sizes))
    return [flat[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]
