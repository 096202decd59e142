"""Choosing the matrix-product kernel both executors share (numpy's BLAS).

OpenBLAS picks its kernels from the CPU model. On a CPU newer than the OpenBLAS build knows (AMD
family 26, for one) it falls back to its AVX2 (Haswell) kernels although the CPU has AVX-512, and
matrix products run up to 1.7x slower. Before numpy is imported we ask for the AVX-512 (SkylakeX)
kernels when the CPU reports the instructions they use. A user's own OPENBLAS_CORETYPE wins.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from mlxa.machine.cpu import cpu_flags

_AVX512_FLAGS = {"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"}


def choose_blas_core(argv: list[str]) -> None:
    """Apply `--blas-core NAME` from a command line (before numpy loads), else the default."""
    for i, arg in enumerate(argv):
        name = arg.split("=", 1)[1] if arg.startswith("--blas-core=") else (
            argv[i + 1] if arg == "--blas-core" and i + 1 < len(argv) else None)
        if name and "numpy" not in sys.modules:
            os.environ["OPENBLAS_CORETYPE"] = name
            return
    prefer_avx512_blas()


def prefer_avx512_blas() -> bool:
    """Set OPENBLAS_CORETYPE=SkylakeX where it helps and is still possible; True if set."""
    if "numpy" in sys.modules or "OPENBLAS_CORETYPE" in os.environ:
        return False
    if not _AVX512_FLAGS <= cpu_flags():
        return False
    os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
    return True


def blas_info() -> dict[str, object]:
    """What numpy's BLAS is: library, version, kernel architecture, threads (when knowable)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {"library": "unknown (install threadpoolctl to see)",
                "threads": os.cpu_count() or 1}
    import numpy  # noqa: F401  (loads the BLAS threadpoolctl inspects)

    for pool in threadpool_info():
        if pool.get("user_api") == "blas" and "numpy" in str(pool.get("filepath", "")):
            return {"library": pool.get("internal_api"), "version": pool.get("version"),
                    "architecture": pool.get("architecture"), "threads": pool.get("num_threads")}
    return {"library": "unknown", "threads": os.cpu_count() or 1}


@contextlib.contextmanager
def blas_threads(threads: int | None, required: bool = True) -> Iterator[None]:
    """numpy's BLAS limited to `threads` inside the block (threadpoolctl); None leaves it as it
    is. Without threadpoolctl the limit cannot be set: a UserInputError when the user asked for
    it (`required`), else the block runs unlimited."""
    if threads is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        if required:
            from mlxa.errors import UserInputError

            raise UserInputError("--threads needs threadpoolctl: "
                                 "pip install 'mlxa[blas]'") from None
        yield
        return
    with threadpool_limits(limits=threads, user_api="blas"):
        yield
