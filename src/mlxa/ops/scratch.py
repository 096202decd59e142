"""Scratch arrays of a kernel: carved out of the compiled executor's workspace, or allocated
(and counted) in eager mode. Each piece starts on a 64-byte boundary, as the arena's buffers do."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlxa.ops import memory

ALIGNMENT = 64


def _aligned(nbytes: int) -> int:
    return -(-nbytes // ALIGNMENT) * ALIGNMENT


def scratch_nbytes(shapes: Sequence[tuple[int, ...]], dtype: Any) -> int:
    """Workspace bytes that `scratch(shapes, dtype, workspace)` needs."""
    itemsize = np.dtype(dtype).itemsize
    return sum(_aligned(int(np.prod(s, dtype=np.int64)) * itemsize) for s in shapes)


def scratch(shapes: Sequence[tuple[int, ...]], dtype: Any,
            workspace: np.ndarray | None) -> list[np.ndarray]:
    """One array per shape: views into `workspace` (uint8, at least scratch_nbytes long) when
    given, else fresh counted allocations."""
    if workspace is None:
        return [memory.empty(tuple(s), dtype) for s in shapes]
    need = scratch_nbytes(shapes, dtype)
    if need > workspace.nbytes:
        raise ValueError(f"workspace of {workspace.nbytes} bytes, kernel needs {need}")
    dtype = np.dtype(dtype)
    arrays, offset = [], 0
    for s in shapes:
        nbytes = int(np.prod(s, dtype=np.int64)) * dtype.itemsize
        arrays.append(workspace[offset:offset + nbytes].view(dtype).reshape(s))
        offset += _aligned(nbytes)
    return arrays
