"""3x3 stride-1 convolution by Winograd's F(2x2, 3x3) with its transforms compiled (LLVM IR,
llvm_ir.py) and its 16 products run by mlxa's microkernel (microkernel.py) over prepacked
transformed weights, across the whole batch.

The algebra is the op table's (ops/conv_winograd.py): output tile (2x2) = A^T [U * V] A, with
U = G w G^T per (output, input) channel pair and V = B^T d B per input channel and 4x4 input
tile d, so the reduction over input channels is 16 products M[p] (O, T) = U[p] (O, C) @ V[p]
(C, T) over T tiles, 2.25x fewer multiply-adds than the direct conv. The op table runs its
transforms as numpy passes over whole arrays; on a 32-channel conv at 28 x 28 they took half of
its time, and it lost to the microkernel's direct conv. Here:

  * the input is framed in zeros (plane_copy.py) to (2 TH + 2) x (2 TW + 2), TH x TW tiles, so
    every tile reads its 4 x 4 window inside the frame;
  * `input_transform` computes V for 8 neighbouring tiles at once: each of a window's 4 rows is
    two pairs of vectors read along the row, split into even and odd columns (a tile's columns
    are 2q .. 2q + 3), so B^T d B is 32 vector additions, and V is stored as [16][C][T];
  * the microkernel computes M[p] = U[p] @ V[p] (U packed once at bind time), the bias added as
    the product's own: into M[5], since A^T e_1 e_1^T A is all ones, it adds to each output of
    a tile once;
  * `output_transform` computes A^T M A for 8 tiles, clamps (relu, clip), interleaves the two
    columns of each tile row and stores them in place in the output.

The batch's tiles are one run of columns, tile row by tile row, so a batch of small maps still
gives the products long rows; bands of tile rows bound V and M to BAND_NBYTES (mostly in L2,
the rest in L3, between the transforms and the products). Rounding: as the op table's Winograd,
a few float32 ulps of the largest product terms.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from mlxa.kernels.generated import carve
from mlxa.kernels.llvm_ir import Call, Emitter, Kernel, compile_function
from mlxa.kernels.plane_copy import frame
from mlxa.ops.bound import Step, sequence
from mlxa.ops.conv_winograd import tiles, weight_transform
from mlxa.ops.spatial import Window

VL = 8  # tiles per vector
BAND_NBYTES = 1 << 21  # a band's V and M: twice the 1 MiB L2 here, yet 0.5 and 1 MiB ran none
# of benchmarks/winograd.py's shapes faster, and most up to 11% slower


def takes(w_shape: tuple[int, ...], win: Window) -> bool:
    """A 3x3 kernel, stride 1, dilation 1 (the group is the caller's: one)."""
    return (tuple(w_shape[2:]) == (3, 3) and win.strides == (1, 1)
            and win.dilations == (1, 1))


def bind(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, out: np.ndarray, win: Window,
         bounds: tuple[float, float], workspace: np.ndarray | None,
         band_nbytes: int = BAND_NBYTES) -> Step:
    """out = clamp(conv(x, w) + bias): x (N, C, H, W) and out (N, O, oh, ow) C-contiguous
    float32; `bounds` the clamp (-inf, inf for none)."""
    from mlxa.kernels import microkernel

    for name, a in (("input", x), ("output", out)):
        if a.dtype != np.float32 or not a.flags.c_contiguous:
            raise ValueError(f"winograd_ir: the {name} must be C-contiguous float32")

    n, c = x.shape[:2]
    o = w.shape[0]
    th, tw = tiles(win)
    ph, pw = 2 * th + 2, 2 * tw + 2
    per_row = 16 * (c + o) * tw * 4  # V and M of one tile row
    rows = max(1, band_nbytes // per_row)
    group = max(1, min(n, rows // th))  # items framed at once
    band = min(rows, group * th)  # tile rows per band
    cols = band * tw
    plane, v, m = carve(workspace, group * c * ph * pw, 16 * c * cols, 16 * o * cols)
    plane = plane.reshape(group, c, ph, pw)
    mr, nv, vl = microkernel.blocking()
    u = weight_transform(w)  # not kept: the packed copies below are what the calls read
    packed = [microkernel.pack(u[p], bias if p == 5 else None, mr) for p in range(16)]
    product = microkernel.compiled(mr, nv, vl)
    into, back = input_transform(), output_transform()
    inf = float("inf")
    steps: list[Step] = []
    for n0 in range(0, n, group):
        items = min(group, n - n0)
        src, dst = x[n0:n0 + items], out[n0:n0 + items]
        steps.append(frame(src, plane[:items], win.pads[0], win.pads[1]))
        for g0 in range(0, items * th, band):
            g1 = min(g0 + band, items * th)
            steps.append(Call(into, (plane, v),
                              (plane.ctypes.data, v.ctypes.data, c, g0, g1, th, tw,
                               c * ph * pw, ph * pw, pw, cols, c * cols)))
            for p, (wp, bp) in enumerate(packed):
                vp, mp = v[p * c * cols:], m[p * o * cols:]
                steps.append(Call(product, (wp, bp, v, m),
                                  (wp.ctypes.data, vp.ctypes.data, bp.ctypes.data,
                                   mp.ctypes.data, 1, o, c, (g1 - g0) * tw, cols, cols, 0, 0,
                                   -inf, inf)))
            steps.append(Call(back, (m, dst),
                              (m.ctypes.data, dst.ctypes.data, o, g0, g1, th, tw, cols,
                               o * cols, o * win.out_h * win.out_w, win.out_h, win.out_w,
                               *bounds)))
    return sequence(steps)


@functools.cache
def input_transform() -> Kernel:
    """(plane, v, C, g0, g1, TH, TW, plane_item, plane_chan, pw, v_row, v_pos): for tile rows
    g0 <= g < g1 of the framed items (item g // TH, row g % TH), V[p][c][(g - g0) TW + q] =
    (B^T d B)[p] of tile q's window in channel c; v_row floats between V's channel rows,
    v_pos between its positions."""
    from llvmlite import ir

    module = ir.Module(name="mlxa_winograd_in")
    fptr, i64 = ir.FloatType().as_pointer(), ir.IntType(64)
    e = Emitter(module, "winograd_in", [fptr] * 2 + [i64] * 10, VL)
    b, const = e.b, e.const
    plane, v, chans, g0, g1, th, tw, plane_item, plane_chan, pw, v_row, v_pos = e.fn.args
    for arg in (plane, v):
        arg.add_attribute("noalias")

    def tiles8(at: Any, dst: Any, count: Any) -> None:
        """The 8 tiles (count of them, None: all) whose windows start at plane[at]."""
        lanes = None if count is None else (e.mask(b.mul(count, const(2))),
                                            e.mask(b.sub(b.mul(count, const(2)), const(VL))))
        h = []
        for k in range(4):
            row = b.add(at, b.mul(const(k), pw))
            a0, a1, b0, b1 = (e.load(plane, b.add(row, const(off)),
                                     None if lanes is None else lanes[j % 2])
                              for j, off in enumerate((0, VL, 2, 2 + VL)))
            d0, d1 = e.every_other(a0, a1), e.every_other(a0, a1, odd=True)
            d2, d3 = e.every_other(b0, b1), e.every_other(b0, b1, odd=True)
            h.append(_bt(b, d0, d1, d2, d3))
        keep = None if count is None else e.mask(count)
        for col in range(4):
            for r, value in enumerate(_bt(b, *(h[k][col] for k in range(4)))):
                e.store(value, v, b.add(dst, b.mul(const(4 * r + col), v_pos)), keep)

    full = b.mul(b.sdiv(tw, const(VL)), const(VL))

    def tile_row(g: Any, _: list[Any]) -> list[Any]:
        item, r = b.sdiv(g, th), b.srem(g, th)
        base = b.add(b.mul(item, plane_item), b.mul(b.mul(r, const(2)), pw))
        col0 = b.mul(b.sub(g, g0), tw)

        def channel(c: Any, _: list[Any]) -> list[Any]:
            at, dst = b.add(base, b.mul(c, plane_chan)), b.add(col0, b.mul(c, v_row))
            def run(q: Any, _: list[Any]) -> list[Any]:
                tiles8(b.add(at, b.mul(q, const(2))), b.add(dst, q), None)
                return []

            e.loop(const(0), full, const(VL), run)
            with b.if_then(b.icmp_signed("<", full, tw)):
                tiles8(b.add(at, b.mul(full, const(2))), b.add(dst, full), b.sub(tw, full))
            return []

        e.loop(const(0), chans, const(1), channel)
        return []

    e.loop(g0, g1, const(1), tile_row)
    b.ret_void()
    return compile_function(module, "winograd_in")


def _bt(b: Any, d0: Any, d1: Any, d2: Any, d3: Any) -> list[Any]:
    """B^T applied to four rows (or columns): d0 - d2, d1 + d2, d2 - d1, d1 - d3."""
    return [b.fsub(d0, d2), b.fadd(d1, d2), b.fsub(d2, d1), b.fsub(d1, d3)]


def _at(b: Any, m0: Any, m1: Any, m2: Any, m3: Any) -> list[Any]:
    """A^T applied to four rows (or columns): m0 + m1 + m2, m1 - m2 - m3."""
    return [b.fadd(b.fadd(m0, m1), m2), b.fsub(b.fsub(m1, m2), m3)]


@functools.cache
def output_transform() -> Kernel:
    """(m, out, O, g0, g1, TH, TW, m_row, m_pos, out_item, oh, ow, lo, hi): for tile rows
    g0 <= g < g1, out[g // TH][o][2 (g % TH) + i][2q + j] = clamp((A^T M A)[i][j]) of
    M[p][o][(g - g0) TW + q], where inside (oh, ow)."""
    from llvmlite import ir

    module = ir.Module(name="mlxa_winograd_out")
    fptr, i64 = ir.FloatType().as_pointer(), ir.IntType(64)
    e = Emitter(module, "winograd_out", [fptr] * 2 + [i64] * 10 + [ir.FloatType()] * 2, VL)
    b, const = e.b, e.const
    m, out, rows, g0, g1, th, tw, m_row, m_pos, out_item, oh, ow, lo, hi = e.fn.args
    for arg in (m, out):
        arg.add_attribute("noalias")
    lo_v, hi_v = e.splat(lo), e.splat(hi)
    plane = b.mul(oh, ow)
    first = ir.Constant(ir.VectorType(e.i32, VL), [0, 8, 1, 9, 2, 10, 3, 11])
    second = ir.Constant(ir.VectorType(e.i32, VL), [4, 12, 5, 13, 6, 14, 7, 15])

    def tiles8(src: Any, dst: Any, second_row: Any, count: Any, width: Any) -> None:
        """8 tiles (count of them, None: all) from M[.][src], to out[dst] and the row below
        where `second_row`; `width` output columns left from dst (None: 16 or more)."""
        keep = None if count is None else e.mask(count)
        ms = [e.load(m, b.add(src, b.mul(const(p), m_pos)), keep) for p in range(16)]
        by_col = [_at(b, *(ms[4 * k + col] for k in range(4))) for col in range(4)]
        for i in range(2):
            y0, y1 = _at(b, *(by_col[col][i] for col in range(4)))
            y0, y1 = e.clamp(y0, lo_v, hi_v), e.clamp(y1, lo_v, hi_v)
            halves = (b.shuffle_vector(y0, y1, first), b.shuffle_vector(y0, y1, second))
            if i == 0:
                put(halves, dst, width)
            else:
                with b.if_then(second_row):
                    put(halves, b.add(dst, ow), width)

    def put(halves: tuple[Any, Any], at: Any, width: Any) -> None:
        """16 output columns from out[at] (`width` of them; None: all)."""
        for j, half in enumerate(halves):
            e.store(half, out, b.add(at, const(j * VL)),
                    None if width is None else e.mask(b.sub(width, const(j * VL))))

    full = b.mul(b.sdiv(b.sdiv(ow, const(2)), const(VL)), const(VL))  # 2q + 16 <= ow

    def tile_row(g: Any, _: list[Any]) -> list[Any]:
        item, r = b.sdiv(g, th), b.srem(g, th)
        top = b.mul(r, const(2))
        second_row = b.icmp_signed("<", b.add(top, const(1)), oh)
        col0 = b.mul(b.sub(g, g0), tw)

        def channel(o: Any, _: list[Any]) -> list[Any]:
            src = b.add(col0, b.mul(o, m_row))
            dst = b.add(b.add(b.mul(item, out_item), b.mul(o, plane)), b.mul(top, ow))
            def run(q: Any, _: list[Any], edge: bool = False) -> list[Any]:
                tiles8(b.add(src, q), b.add(dst, b.mul(q, const(2))), second_row,
                       b.sub(tw, q) if edge else None,
                       b.sub(ow, b.mul(q, const(2))) if edge else None)
                return []

            e.loop(const(0), full, const(VL), run)
            e.loop(full, tw, const(VL), lambda q, _: run(q, _, edge=True))
            return []

        e.loop(const(0), rows, const(1), channel)
        return []

    e.loop(g0, g1, const(1), tile_row)
    b.ret_void()
    return compile_function(module, "winograd_out")

