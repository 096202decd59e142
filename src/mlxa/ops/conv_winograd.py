"""3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3), one batch item.

Each 2x2 tile of the output comes from a 4x4 tile of the padded input d (tiles overlap by 2):
    y = A^T [ (G w G^T) * (B^T d B) ] A        (* elementwise over the 4x4 positions)
so the product over channels becomes 16 independent matrix products, one per tile position:
    M[ab] (O, T) = U[ab] (O, C) @ V[ab] (C, T),   U = G w G^T,  V = B^T d B,  T tiles
which is 16*O*C multiply-adds per tile against 36*O*C for the direct method: 2.25x fewer.
The transforms are additions only (B, A hold 0 and +-1), done on whole arrays:
  * the padded input is stored as four phases, its rows and columns split by parity: phase
    (p, q) row t, column u is padded row 2t+p, column 2u+q. Tile (t, u) then reads rows t and
    t+1, columns u and u+1 of each phase;
  * each phase row is one run at pitch tw+1, and a band's rows are consecutive: every
    transform step is one numpy call over runs of (rows)*(tw+1) elements. The column past
    the last tile of each row (u = tw) is garbage, carried through the products (whose columns
    are independent) and never scattered: tw+1 columns per tile row are computed for tw;
  * A^T M A is one product by the (4, 16) matrix kron(A^T, A^T), scattered into the output.
    The bias goes into M[1, 1] (A^T e_1 e_1^T A is all ones): a quarter of the output's size.
Bands of tile rows bound the scratch (WINOGRAD_NBYTES in conv.py). U is computed in float64 once
per weight array (see transformed_weights) and kept: 16/9 of the weights' size.
Rounding: y differs from the direct sum by a few float32 ulps of the largest product terms.
"""

from __future__ import annotations

import functools
import weakref
from functools import partial

import numpy as np

from mlxa.ops import memory
from mlxa.ops.bound import Step, sequence
from mlxa.ops.spatial import Window

G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
A_T = np.array([[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]])


def applies(w: tuple[int, ...], win: Window, group: int) -> bool:
    """Whether F(2x2, 3x3) computes this conv, and pays: the transforms cost about (C + O) per
    tile position against C*O saved, and products over few tiles run below the matrix unit's
    speed. Thresholds measured on ResNet's shapes at batch 1 (single-thread OpenBLAS): it
    pays from 64x64 channels at 28x28, 128x128 at 14x14, 1024x1024 at 7x7."""
    if not (w[2:] == (3, 3) and win.strides == (1, 1) and win.dilations == (1, 1)
            and group == 1):
        return False
    th, tw = tiles(win)
    channels = w[0] * w[1]
    return channels * th * tw >= 1 << 19 and (th * tw >= 25 or channels >= 1 << 20)


def tiles(win: Window) -> tuple[int, int]:
    """Tile rows and columns: 2x2 output tiles covering (out_h, out_w)."""
    return -(-win.out_h // 2), -(-win.out_w // 2)


def band_tiles(c: int, o: int, win: Window, budget_nbytes: int, itemsize: int) -> int:
    """Tile rows per band: the band's scratch within budget_nbytes, at least one row."""
    th, tw = tiles(win)
    per_row = (max(16 * c, 4 * o) + max(16 * o, 16 * c)) * (tw + 1) * itemsize
    return max(1, min(th, budget_nbytes // per_row))


def scratch_shapes(c: int, o: int, win: Window, band: int) -> list[tuple[int, ...]]:
    """The four phases of the padded input (th+2 rows: the last, zero, is read by the garbage
    column of the last tile row), then two flat buffers for a band: V, later the output tiles Y;
    the column-transformed rows, later M (each consumed before its successor is written). A
    shorter last band takes a prefix, so its arrays are contiguous."""
    th, tw = tiles(win)
    pitch = tw + 1
    return [(2, 2, c, (th + 2) * pitch), (max(16 * c, 4 * o) * band * pitch,),
            (max(16 * o * band, 8 * c * (band + 1)) * pitch,)]


def bind(x: np.ndarray, u: np.ndarray, bias: np.ndarray | None, out: np.ndarray,
         bufs: list[np.ndarray], win: Window, band: int) -> Step:
    """x (C, H, W) unpadded, u (16, O, C) transformed weights, out (O, oh, ow), bias (O, 1, 1)."""
    phases, vy, mc = bufs
    c, o = x.shape[0], out.shape[0]
    th, tw = tiles(win)
    pitch = tw + 1
    steps: list[Step] = [partial(phases.fill, 0), *_phase_copies(x, phases, win, pitch)]
    at = _output_matrix(x.dtype)
    for t0 in range(0, th, band):
        nb = min(band, th - t0)
        n = nb * pitch
        ct = mc[:8 * c * (n + pitch)].reshape(4, 2, c, n + pitch)
        v = vy[:16 * c * n].reshape(16, c, n)
        m = mc[:16 * o * n].reshape(16, o, n)
        y = vy[:4 * o * n].reshape(4, o, nb, pitch)
        steps += _input_transform(phases[..., t0 * pitch:(t0 + nb + 2) * pitch], ct,
                                  v.reshape(4, 4, c, n), n)
        steps.append(partial(np.matmul, u, v, out=m))
        if bias is not None:  # A^T e_1 e_1^T A is all ones: M[1, 1] + b adds b to a tile
            steps.append(partial(np.add, m[5], bias.reshape(-1, 1), out=m[5]))
        steps.append(partial(np.matmul, at, m.reshape(16, -1), out=y.reshape(4, -1)))
        steps += _scatter(y[..., :tw], out, 2 * t0, win)
    return sequence(steps)


@functools.cache
def _output_matrix(dtype: np.dtype) -> np.ndarray:
    """kron(A^T, A^T) (4, 16): row 2p+q of Y from column 4a+b of M; read-only."""
    at = np.kron(A_T, A_T).astype(dtype)
    at.setflags(write=False)
    return at


def _phase_copies(x: np.ndarray, phases: np.ndarray, win: Window, pitch: int) -> list[Step]:
    """Input row i, column j is padded row i+top, column j+left: phase ((i+top)%2, (j+left)%2)
    at ((i+top)//2, (j+left)//2)."""
    top, left = win.pads[0], win.pads[1]
    grid = phases.reshape(2, 2, x.shape[0], -1, pitch)
    copies: list[Step] = []
    for i in (0, 1):
        for j in (0, 1):
            src = x[:, i::2, j::2]
            if src.size:
                r, q = (i + top) // 2, (j + left) // 2
                dst = grid[(i + top) % 2, (j + left) % 2, :, r:r + src.shape[1],
                           q:q + src.shape[2]]
                copies.append(partial(np.copyto, dst, src))
    return copies


def _input_transform(ph: np.ndarray, ct: np.ndarray, v: np.ndarray, n: int) -> list[Step]:
    """B^T d B over a band of nb tile rows, n = nb*pitch. ph (p, q, C, (nb+2)*pitch): rows
    t0.. of the phases; ct (b, p, C, n+pitch). Columns first, d0..d3 = column u of q=0, u of
    q=1, u+1 of q=0, u+1 of q=1: ct[b] = (d0-d2, d1+d2, d2-d1, d1-d3), rows t..t+nb of each
    row phase. Then rows: d0..d3 = ct row t of p=0, t of p=1, t+1 of p=0, t+1 of p=1."""
    pitch = ct.shape[3] - n
    span = n + pitch
    lo, hi = ph[..., :span], ph[..., 1:span + 1]
    d = [ct[:, p, :, r:r + n] for r in (0, pitch) for p in (0, 1)]
    return [
        # q=0: d0 - d2 into ct[0]; q=1: d1 - d3 into ct[3]
        partial(np.subtract, lo, hi, out=ct[0::3].transpose(1, 0, 2, 3)),
        partial(np.add, lo[:, 1], hi[:, 0], out=ct[1]),
        partial(np.subtract, hi[:, 0], lo[:, 1], out=ct[2]),
        partial(np.subtract, d[0], d[2], out=v[0]),
        partial(np.add, d[1], d[2], out=v[1]),
        partial(np.subtract, d[2], d[1], out=v[2]),
        partial(np.subtract, d[1], d[3], out=v[3]),
    ]


def _scatter(y: np.ndarray, out: np.ndarray, r0: int, win: Window) -> list[Step]:
    """Output tile position (a, b) of tile (t, u) is out[2t + a, 2u + b], cropped at the edges."""
    copies: list[Step] = []
    for a in (0, 1):
        rows = out[:, r0 + a:min(r0 + 2 * y.shape[2], win.out_h):2]
        for b in (0, 1):
            dst = rows[:, :, b::2]
            if dst.size:
                src = y[2 * a + b, :, :dst.shape[1], :dst.shape[2]]
                copies.append(partial(np.copyto, dst, src))
    return copies


_PACKED: dict[int, tuple[weakref.ref, np.ndarray]] = {}


def transformed_weights(w: np.ndarray) -> np.ndarray:
    """U = G w G^T as (16, O, C), computed in float64 once per weight array and kept while the
    array lives (weights are constants: one changed in place after first use is not seen).
    Allocated through memory.empty, so it is counted once, on the first call."""
    hit = _PACKED.get(id(w))
    if hit is not None and hit[0]() is w:
        return hit[1]
    u = memory.empty((16, *w.shape[:2]), w.dtype)
    u[...] = weight_transform(w)
    key = id(w)
    _PACKED[key] = (weakref.ref(w, lambda _: _PACKED.pop(key, None)), u)
    return u


def weight_transform(w: np.ndarray) -> np.ndarray:
    """U = G w G^T in float64, (16, O, C) (position 4a + b), computed afresh."""
    o, c = w.shape[:2]
    return np.einsum("ai,ocij,bj->aboc", G, w.astype(np.float64), G).reshape(16, o, c)
