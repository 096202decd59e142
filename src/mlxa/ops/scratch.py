"""Scratch arrays of a kernel: carved out of the compiled executor's workspace, or allocated
(and counted) in eager mode. Each piece starts on a 64-byte boundary, as the arena's buffers do.

Kernels call `scratch` on every inference, so the layout (byte offset and length of each piece)
is computed once per (shapes, dtype) and cached; a call then costs one slice and view per piece.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlxa.ops import memory
from mlxa.planners.contract import ALIGNMENT, align_up


def _aligned(nbytes: int) -> int:
    return align_up(nbytes, ALIGNMENT)


@functools.lru_cache(maxsize=1024)
def _layout(shapes: tuple[tuple[int, ...], ...],
            dtype: np.dtype) -> tuple[tuple[tuple[int, int], ...], int]:
    """((offset, nbytes) per piece, total bytes with each piece aligned)."""
    pieces, offset = [], 0
    for s in shapes:
        nbytes = math.prod(s) * dtype.itemsize
        pieces.append((offset, nbytes))
        offset += _aligned(nbytes)
    return tuple(pieces), offset


def scratch_nbytes(shapes: Sequence[tuple[int, ...]], dtype: Any) -> int:
    """Workspace bytes that `scratch(shapes, dtype, workspace)` needs."""
    return _layout(tuple(tuple(s) for s in shapes), np.dtype(dtype))[1]


def scratch(shapes: Sequence[tuple[int, ...]], dtype: Any,
            workspace: np.ndarray | None) -> list[np.ndarray]:
    """One array per shape: views into `workspace` (uint8, at least scratch_nbytes long) when
    given, else fresh counted allocations."""
    if workspace is None:
        return [memory.empty(tuple(s), dtype) for s in shapes]
    dtype = np.dtype(dtype)
    key = tuple(tuple(s) for s in shapes)
    pieces, need = _layout(key, dtype)
    if need > workspace.nbytes:
        raise ValueError(f"workspace of {workspace.nbytes} bytes, kernel needs {need}")
    return [workspace[offset:offset + nbytes].view(dtype).reshape(s)
            for (offset, nbytes), s in zip(pieces, key)]
