"""A register-blocked matrix product with a bias and clamp epilogue, written as LLVM IR
(llvm_ir.py) and compiled for this CPU: the loop BLAS libraries build around a hand-written
microkernel.

    out[n, o, p] = clamp(bias[o] + sum_c w[o, c] * x[n, c, p], lo, hi)    for p < P

The weight is packed once, at bind time (`pack`): blocks of MR output rows, each stored as
[C][MR], zero rows padding the last block; so is the bias. For each item, each run of NR = NV x VL
output columns and each block of MR rows, MR x NV vectors of VL floats accumulate in registers
over every input row (one splat of a weight and one fused multiply-add per vector), then are
clamped and stored once (`blocking` picks MR, NV and VL for this CPU). The last run of a row
takes only the vectors it needs, with masked loads and stores, and rows past O are not stored.
Where the x rows are long (a 1x1 conv over a large map) this is the whole conv; ONNX Runtime's
MLAS and oneDNN run the same shape of loop over prepacked weights. With `table`, row c of x
starts wherever an offset table says (a stride-1 conv's taps over its padded input plane). The
IR is compiled once per process (about 0.3 s).

`compiled_t` is the same product turned around, vectors along the output rows (a conv's
channels) over tiles of 8 columns (pixels) that read their input through two offset tables and
are transposed in registers before the store (see the comment above it).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from mlxa.kernels.llvm_ir import Emitter, Kernel, compile_function, host_features


@functools.cache
def blocking() -> tuple[int, int, int]:
    """(MR, NV, VL) for this CPU: VL = 8 floats (a 256-bit vector; on Zen 4 a 512-bit FMA is
    two 256-bit ones, and 8-float runs waste less at the edge of a 7x7 map); with AVX-512's 32
    vector registers 8 x 3 accumulators, with AVX2's 16, 4 x 3 (benchmarks/microkernel.py)."""
    return (8, 3, 8) if "avx512f" in host_features() else (4, 3, 8)


def pack(w: np.ndarray, bias: np.ndarray | None, mr: int) -> tuple[np.ndarray, np.ndarray]:
    """The weight [O, C] as blocks of `mr` rows, each [C][mr] (zero rows pad the last), and the
    bias padded the same way (zeros without one)."""
    o, c = w.shape
    blocks = -(-o // mr)
    padded = np.zeros((blocks * mr, c), np.float32)
    padded[:o] = w
    b = np.zeros(blocks * mr, np.float32)
    if bias is not None:
        b[:o] = bias
    return np.ascontiguousarray(padded.reshape(blocks, mr, c).transpose(0, 2, 1)).reshape(-1), b


PANEL_FLOATS = 8192  # x's share of a panel (32 KiB): re-read from L1/L2 by each row block


@functools.cache
def compiled(mr: int, nv: int, vl: int, table: bool = False, panels: bool = False) -> Kernel:
    """The kernel as a C function: (w_packed, x, bias_packed, out, N, O, C, P, x_row, out_row,
    x_item, out_item, lo, hi), pointers as integers; `x_row` / `out_row`: floats between two
    rows of x / out (P where they are whole rows), `x_item` / `out_item`: between two items.
    With `table`, `x_row` is instead the address of C int64 offsets, where each row of x
    starts: a direct conv's rows are the input plane shifted by each tap (conv_gemm.py).
    With `panels`, the columns go in panels of about PANEL_FLOATS / C columns, each row block
    running over a whole panel before the next block: each output row is then stored in
    pieces of a panel's width instead of a run's (a 1x1 conv from 16 to 96 channels over
    112 x 112 maps at batch 32, 96 output rows written 24 floats at a time, ran at 35 GFLOP/s
    without panels and 62 with; convs that read more than they write lost 5-13%)."""
    from llvmlite import ir

    module = ir.Module(name="mlxa_microkernel")
    _emit(module, mr, nv, vl, table, panels)
    return compile_function(module, "matmul_bias_clamp")


def _emit(module: Any, mr: int, nv: int, vl: int, table: bool, panels: bool) -> None:
    """The IR: loops over items, runs of columns (or panels of them), and row blocks; the
    reduction over C inside."""
    from llvmlite import ir

    fptr = ir.FloatType().as_pointer()
    e = Emitter(module, "matmul_bias_clamp", [fptr] * 4 + [ir.IntType(64)] * 8
                + [ir.FloatType()] * 2, vl)
    b, const = e.b, e.const
    wp, x, bias, out, items, rows, depth, cols, x_row, out_row, x_item, out_item, lo, hi = \
        e.fn.args
    for arg in (wp, x, bias, out):
        arg.add_attribute("noalias")
    lo_v, hi_v = e.splat(lo), e.splat(hi)
    offsets = b.inttoptr(x_row, ir.IntType(64).as_pointer()) if table else None
    blocks = b.sdiv(b.add(rows, const(mr - 1)), const(mr))
    nr = nv * vl

    def block(x_base: Any, o_base: Any, ob: Any, col: Any, width: int,
              masks: list[Any] | None) -> list[Any]:
        """Row block `ob` over one run of `width` vectors starting at column `col`."""
        row0 = b.mul(ob, const(mr))
        w_base = b.mul(row0, depth)
        init = [e.splat(b.load(b.gep(bias, [b.add(row0, const(i))])))
                for i in range(mr) for _ in range(width)]

        def reduce(c: Any, acc: list[Any]) -> list[Any]:
            row = b.mul(c, x_row) if offsets is None else b.load(b.gep(offsets, [c]))
            at = b.add(x_base, b.add(row, col))
            xs = [e.load(x, b.add(at, const(j * vl)), None if masks is None else masks[j])
                  for j in range(width)]
            w_at = b.add(w_base, b.mul(c, const(mr)))
            new = []
            for i in range(mr):
                wv = e.splat(b.load(b.gep(wp, [b.add(w_at, const(i))])))
                new += [e.fma(wv, xs[j], acc[i * width + j]) for j in range(width)]
            return new

        acc = e.loop(const(0), depth, const(1), reduce, init)
        for i in range(mr):
            row = b.add(row0, const(i))
            with b.if_then(b.icmp_signed("<", row, rows)):
                at = b.add(o_base, b.add(b.mul(row, out_row), col))
                for j in range(width):
                    e.store(e.clamp(acc[i * width + j], lo_v, hi_v), out,
                            b.add(at, const(j * vl)), None if masks is None else masks[j])
        return []

    def every_block(x_base: Any, o_base: Any, col: Any, width: int,
                    masks: list[Any] | None) -> list[Any]:
        return e.loop(const(0), blocks, const(1),
                      lambda ob, _: block(x_base, o_base, ob, col, width, masks))

    def item(n: Any, _: list[Any]) -> list[Any]:
        x_base, o_base = b.mul(n, x_item), b.mul(n, out_item)
        full = b.mul(b.sdiv(cols, const(nr)), const(nr))
        if panels:  # runs per panel: PANEL_FLOATS / C / NR, at least one
            runs = b.sdiv(b.sdiv(const(PANEL_FLOATS), depth), const(nr))
            span = b.mul(b.select(b.icmp_signed("<", runs, const(1)), const(1), runs),
                         const(nr))

            def panel(p0: Any, _: list[Any]) -> list[Any]:
                end = b.add(p0, span)
                p1 = b.select(b.icmp_signed("<", end, full), end, full)
                return e.loop(const(0), blocks, const(1), lambda ob, _: e.loop(
                    p0, p1, const(nr),
                    lambda col, _: block(x_base, o_base, ob, col, nv, None)))

            e.loop(const(0), full, span, panel)
        else:
            e.loop(const(0), full, const(nr),
                   lambda col, _: every_block(x_base, o_base, col, nv, None))
        left = b.sub(cols, full)  # 0 <= left < nv * vl: the tail run takes ceil(left / vl)
        for width in range(1, nv + 1):
            fits = b.and_(b.icmp_signed(">", left, const((width - 1) * vl)),
                          b.icmp_signed("<=", left, const(width * vl)))
            with b.if_then(fits):
                every_block(x_base, o_base, full, width,
                            [e.mask(b.sub(left, const(j * vl))) for j in range(width)])
        return []

    e.loop(const(0), items, const(1), item)
    b.ret_void()


# The same product turned around: vectors along the output rows (a conv's output channels)
# instead of its columns (pixels), for convs whose pixel count leaves the last run of columns
# mostly empty (a 7x7 map: 49 = 2 x 24 + 1) or whose columns are not contiguous in the input (a
# stride-2 conv, which would need an im2col copy). Each tile is PIXELS columns x NV vectors of
# VL rows; a column's input is one float per reduction step, splat, read wherever it lies (its
# address: the step's offset plus the column's own, both from tables), so the columns of a tile
# need not be neighbours in the input. The tile is transposed in registers (8 x 8 blocks) and
# stored as rows of PIXELS columns: no column outside the output is computed or stored.
PIXELS = 8  # a tile's columns: the transpose is square, VL x VL, with VL = 8


def pick_nv(rows: int) -> int:
    """Vectors per tile along the rows: 3 with AVX-512's 32 registers (24 accumulators), 2 where
    that wastes fewer rows (O = 32, 64, 160, 320, 1280 are multiples of 16, not 24); 1 with
    AVX2's 16 registers."""
    if "avx512f" not in host_features():
        return 1
    return min((3, 2), key=lambda nv: -(-rows // (nv * 8)) * nv * 8 - rows)


@functools.cache
def compiled_t(nv: int, scattered: bool = False) -> Kernel:
    """The turned-around kernel as a C function: (w_packed, x, bias_packed, out, O, C, P,
    offsets, columns, out_row, lo, hi): w packed by `pack(w, bias, nv * 8)`; `offsets` the
    address of C int64 offsets (where reduction step c reads, relative to a column's input),
    `columns` of P int64 (each column's input), padded to a multiple of PIXELS (any valid
    column's value); out[o * out_row + p].

    `scattered` adds (steps, out_columns, block_floats): reduction step c takes the packed
    weight's row steps[c] (int64), so one packing serves any subset of the reduction, a block
    of rows being block_floats apart; column p is stored at out[out_columns[p] + o * out_row],
    a float at a time, so a tile's columns may lie anywhere in the output (the same pixel of 8
    items). P must be a multiple of PIXELS, the columns padded by repeating one (the same
    input, the same output: it stores the same value twice)."""
    from llvmlite import ir

    module = ir.Module(name="mlxa_microkernel_t" + "_scattered" * scattered)
    _emit_t(module, nv, scattered)
    return compile_function(module, "matmul_t_bias_clamp")


def _emit_t(module: Any, nv: int, scattered: bool) -> None:
    from llvmlite import ir

    vl = 8
    fptr, i64 = ir.FloatType().as_pointer(), ir.IntType(64)
    args = [fptr] * 4 + [i64] * 6 + [ir.FloatType()] * 2 + [i64] * (3 if scattered else 0)
    e = Emitter(module, "matmul_t_bias_clamp", args, vl)
    b, const = e.b, e.const
    wp, x, bias, out, rows, depth, cols, offsets_at, columns_at, out_row, lo, hi = e.fn.args[:12]
    for arg in (wp, x, bias, out):
        arg.add_attribute("noalias")
    offsets = b.inttoptr(offsets_at, i64.as_pointer())
    columns = b.inttoptr(columns_at, i64.as_pointer())
    lo_v, hi_v = e.splat(lo), e.splat(hi)
    nb = nv * vl
    blocks = b.sdiv(b.add(rows, const(nb - 1)), const(nb))
    full = b.mul(b.sdiv(cols, const(PIXELS)), const(PIXELS))
    if scattered:
        steps_at, out_columns_at, block_floats = e.fn.args[12:]
        steps = b.inttoptr(steps_at, i64.as_pointer())
        out_columns = b.inttoptr(out_columns_at, i64.as_pointer())

    def block(blk: Any, _: list[Any]) -> list[Any]:
        row0 = b.mul(blk, const(nb))
        # the block's [C][NB]
        w_base = b.mul(blk, block_floats) if scattered else b.mul(row0, depth)
        biases = [e.load(bias, b.add(row0, const(j * vl))) for j in range(nv)]

        def tile(p0: Any, mask: Any) -> list[Any]:
            bases = [b.load(b.gep(columns, [b.add(p0, const(i))])) for i in range(PIXELS)]

            def reduce(c: Any, acc: list[Any]) -> list[Any]:
                off = b.load(b.gep(offsets, [c]))
                step = b.load(b.gep(steps, [c])) if scattered else c
                at = b.add(w_base, b.mul(step, const(nb)))
                ws = [e.load(wp, b.add(at, const(j * vl))) for j in range(nv)]
                new = []
                for i in range(PIXELS):
                    xs = e.splat(b.load(b.gep(x, [b.add(off, bases[i])])))
                    new += [e.fma(xs, ws[j], acc[i * nv + j]) for j in range(nv)]
                return new

            acc = e.loop(const(0), depth, const(1), reduce,
                         [biases[j] for _ in range(PIXELS) for j in range(nv)])
            if scattered:
                _store_scattered(e, [e.clamp(a, lo_v, hi_v) for a in acc], nv, out,
                                 [b.load(b.gep(out_columns, [b.add(p0, const(i))]))
                                  for i in range(PIXELS)], row0, rows, out_row)
                return []
            for j in range(nv):
                by_row = _transpose8(b, [acc[i * nv + j] for i in range(PIXELS)])
                for r in range(vl):
                    row = b.add(row0, const(j * vl + r))
                    with b.if_then(b.icmp_signed("<", row, rows)):
                        e.store(e.clamp(by_row[r], lo_v, hi_v), out,
                                b.add(b.mul(row, out_row), p0), mask)
            return []

        e.loop(const(0), full, const(PIXELS), lambda p0, _: tile(p0, None))
        if not scattered:
            with b.if_then(b.icmp_signed("<", full, cols)):
                tile(full, e.mask(b.sub(cols, full)))
        return []

    e.loop(const(0), blocks, const(1), block)
    b.ret_void()


def _store_scattered(e: Emitter, acc: list[Any], nv: int, out: Any, at: list[Any], row0: Any,
                     rows: Any, out_row: Any) -> None:
    """Lane l of acc[i * nv + j] to out[at[i] + (row0 + 8j + l) * out_row], one float at a
    time; a block's rows past `rows` are not stored (a whole block goes without the checks)."""
    b, const = e.b, e.const
    nb = nv * 8

    def store(checked: bool) -> None:
        for i, base in enumerate(at):
            for j in range(nv):
                for lane in range(8):
                    row = b.add(row0, const(j * 8 + lane))
                    value = b.extract_element(acc[i * nv + j], e.ir.Constant(e.i32, lane))
                    ptr = b.gep(out, [b.add(base, b.mul(row, out_row))])
                    if checked:
                        with b.if_then(b.icmp_signed("<", row, rows)):
                            b.store(value, ptr)
                    else:
                        b.store(value, ptr)

    whole = b.icmp_signed("<=", b.add(row0, const(nb)), rows)
    with b.if_else(whole) as (then, otherwise):
        with then:
            store(False)
        with otherwise:
            store(True)


def _transpose8(b: Any, rows: list[Any]) -> list[Any]:
    """The 8 x 8 transpose of eight 8-float vectors: three rounds of two-vector shuffles
    (pairs of floats, then of pairs, then of halves)."""
    from llvmlite import ir

    def shuffle(u: Any, v: Any, idx: list[int]) -> Any:
        return b.shuffle_vector(u, v, ir.Constant(ir.VectorType(ir.IntType(32), 8), idx))

    lo1, hi1 = [0, 8, 1, 9, 4, 12, 5, 13], [2, 10, 3, 11, 6, 14, 7, 15]
    t = []
    for i in range(0, 8, 2):
        t += [shuffle(rows[i], rows[i + 1], lo1), shuffle(rows[i], rows[i + 1], hi1)]
    lo2, hi2 = [0, 1, 8, 9, 4, 5, 12, 13], [2, 3, 10, 11, 6, 7, 14, 15]
    u = []
    for a, c in ((0, 2), (1, 3), (4, 6), (5, 7)):
        u += [shuffle(t[a], t[c], lo2), shuffle(t[a], t[c], hi2)]
    lo3, hi3 = [0, 1, 2, 3, 8, 9, 10, 11], [4, 5, 6, 7, 12, 13, 14, 15]
    out: list[Any] = [None] * 8
    for i in range(4):
        out[i], out[i + 4] = shuffle(u[i], u[i + 4], lo3), shuffle(u[i], u[i + 4], hi3)
    return out
