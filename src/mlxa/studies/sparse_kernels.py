"""Sparse products against the dense one, and the density at which they break even.

A layer's product is out[O, N] = W[O, K] @ X[K, N] (a conv as im2col: K = C*kh*kw, N = the
output positions; a linear layer: N = the batch). Three ways to run it:
  * dense: numpy's BLAS on W with its zeros, which it multiplies like any other number;
  * csr: scipy.sparse's CSR matrix times the dense X (one axpy of a row of X per nonzero);
  * block (ours): W cut into blocks of BLOCK_ROWS output rows; each block keeps the input
    columns where any of its rows is nonzero (a column segment, the block pattern of
    passes/sparsify.py), packed into a small dense matrix at build time. A call gathers those
    rows of X into a buffer (np.take) and runs one dense product per block: the zero column
    segments are skipped, the rest is BLAS speed.

`break_even` finds the density where sparse time / dense time crosses 1 by bisection, assuming
the ratio grows with density (more nonzeros, more work; the dense time does not change).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from mlxa.passes.sparsify import BLOCK_ROWS, mask

Call = Callable[[], object]


def dense_call(w: np.ndarray, x: np.ndarray) -> Call:
    out = np.empty((w.shape[0], x.shape[1]), np.float32)
    return lambda: np.matmul(w, x, out=out)


def csr_call(w: np.ndarray, x: np.ndarray) -> Call | None:
    try:
        import scipy.sparse
    except ImportError:
        return None
    csr = scipy.sparse.csr_matrix(w)
    return lambda: csr @ x


@dataclass(frozen=True)
class BlockSparse:
    """W in blocks of `rows` output rows, each with its nonzero input columns packed."""

    rows: int
    columns: tuple[np.ndarray, ...]  # per block: the input columns kept
    packed: tuple[np.ndarray, ...]  # per block: W[block rows][:, columns], contiguous

    @staticmethod
    def of(w: np.ndarray, rows: int = BLOCK_ROWS) -> BlockSparse:
        cols, packed = [], []
        for r0 in range(0, w.shape[0], rows):
            part = w[r0:r0 + rows]
            kept = np.flatnonzero(np.any(part != 0, axis=0))
            cols.append(kept)
            packed.append(np.ascontiguousarray(part[:, kept]))
        return BlockSparse(rows, tuple(cols), tuple(packed))

    def call(self, x: np.ndarray) -> Call:
        """out = W @ x, every buffer made ahead; zero column segments never read."""
        n_out = sum(p.shape[0] for p in self.packed)
        out = np.empty((n_out, x.shape[1]), np.float32)
        most = max((len(c) for c in self.columns), default=0)
        buf = np.empty((max(most, 1), x.shape[1]), np.float32)
        steps: list[Call] = []
        for b, (cols, w) in enumerate(zip(self.columns, self.packed)):
            dst = out[b * self.rows:b * self.rows + w.shape[0]]
            if len(cols) == 0:
                steps.append(partial(dst.fill, 0))
                continue
            gathered = buf[:len(cols)]
            steps.append(partial(np.take, x, cols, axis=0, out=gathered))
            steps.append(partial(np.matmul, w, gathered, out=dst))

        def run() -> np.ndarray:
            for step in steps:
                step()
            return out
        return run


def pruned_weight(shape: tuple[int, int], density: float, pattern: str,
                  rng: np.random.Generator) -> np.ndarray:
    """A random W[O, K] magnitude-pruned to `density` in `pattern` (unstructured or block)."""
    w = rng.standard_normal(shape).astype(np.float32)
    keep = mask(w, pattern, 1.0 - density)
    if keep is None:
        raise ValueError(f"pattern {pattern} does not fit {shape}")
    return np.where(keep, w, np.float32(0))


@dataclass(frozen=True)
class Probe:
    density: float
    ratio: float  # sparse time / dense time


def break_even(ratio: Callable[[float], float], lo: float = 0.01, hi: float = 1.0,
               steps: int = 6) -> tuple[float, tuple[Probe, ...]]:
    """The density in [lo, hi] where ratio(density) crosses 1, by geometric bisection (the
    ratio assumed to grow with density), and every probe made. lo when the sparse kernel
    loses even at lo; hi when it wins even at hi."""
    probes = [Probe(hi, ratio(hi))]
    if probes[-1].ratio <= 1.0:
        return hi, tuple(probes)
    probes.append(Probe(lo, ratio(lo)))
    if probes[-1].ratio >= 1.0:
        return lo, tuple(probes)
    for _ in range(steps):
        mid = math.sqrt(lo * hi)
        probes.append(Probe(mid, ratio(mid)))
        lo, hi = (mid, hi) if probes[-1].ratio < 1.0 else (lo, mid)
    return math.sqrt(lo * hi), tuple(probes)
