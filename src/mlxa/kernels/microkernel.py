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
MLAS and oneDNN run the same shape of loop over prepacked weights. The IR is compiled once per
process (about 0.3 s).
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from mlxa.kernels.llvm_ir import Emitter, compile_function, host_features


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


@functools.cache
def compiled(mr: int, nv: int, vl: int, table: bool = False) -> Callable[..., None]:
    """The kernel as a C function: (w_packed, x, bias_packed, out, N, O, C, P, x_row, out_row,
    x_item, out_item, lo, hi), pointers as integers; `x_row` / `out_row`: floats between two
    rows of x / out (P where they are whole rows), `x_item` / `out_item`: between two items.
    With `table`, `x_row` is instead the address of C int64 offsets, where each row of x
    starts: a direct conv's rows are the input plane shifted by each tap (conv_gemm.py)."""
    from llvmlite import ir

    module = ir.Module(name="mlxa_microkernel")
    _emit(module, mr, nv, vl, table)
    p, i64, f32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float
    return compile_function(module, "matmul_bias_clamp", [p] * 4 + [i64] * 8 + [f32] * 2)


def _emit(module: Any, mr: int, nv: int, vl: int, table: bool) -> None:
    """The IR: loops over items, runs of columns, and row blocks; the reduction over C inside."""
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

    def run(x_base: Any, o_base: Any, col: Any, width: int,
            masks: list[Any] | None) -> list[Any]:
        """Every row block over one run of `width` vectors starting at column `col`."""
        def block(ob: Any, _: list[Any]) -> list[Any]:
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

        e.loop(const(0), blocks, const(1), block)
        return []

    def item(n: Any, _: list[Any]) -> list[Any]:
        x_base, o_base = b.mul(n, x_item), b.mul(n, out_item)
        full = b.mul(b.sdiv(cols, const(nv * vl)), const(nv * vl))
        e.loop(const(0), full, const(nv * vl),
               lambda col, _: run(x_base, o_base, col, nv, None))
        left = b.sub(cols, full)  # 0 <= left < nv * vl: the tail run takes ceil(left / vl)
        for width in range(1, nv + 1):
            fits = b.and_(b.icmp_signed(">", left, const((width - 1) * vl)),
                          b.icmp_signed("<=", left, const(width * vl)))
            with b.if_then(fits):
                run(x_base, o_base, full, width,
                    [e.mask(b.sub(left, const(j * vl))) for j in range(width)])
        return []

    e.loop(const(0), items, const(1), item)
    b.ret_void()
