"""A gemm of one row (batch 1's classifier) as LLVM IR (llvm_ir.py): a matrix-vector product,
bound by reading the weight once. The op table runs it as a BLAS call and one more numpy call for
the bias; on a small layer those two calls are most of the time (digits_cnn's 1 x 160 @ 160 x 10:
5 us in the model). Here the weight is packed once, at bind time (microkernel.pack of its
transpose): blocks of nv x VL output columns (nv <= NV, fewer for a narrow output), each stored
[K][nv x VL] (zero columns pad the last block), so the product streams it front to back:

    out[m, n] = clamp(bias[n] + sum_k x[m, k] * w[k, n], lo, hi)

For each row and each block, nv vectors of VL floats accumulate over k (one splat of x[m, k],
nv loads of the weight, nv fused multiply-adds), ceil(SUMS / nv) rows of k at once into sums of
their own (with two vectors a block, one chain of sums would wait on each multiply-add:
small_cnn's 1 x 3136 @ 3136 x 10 took 3.8 us, now 2.3), then take the bias and clamp in their
one store; the last block's store is masked at N. On a large layer it runs at the BLAS's speed
(1 x 1280 @ 1280 x 1000: 64 us against 65, both at about 80 GB/s from cache). The kernel
`gemv_llvm` binds it for a gemm of one row with a constant weight, and keeps it only where its
bind-time trial beats what would bind without it (kernels/trial.py). More rows would each
stream the weight again: 2 rows ran 128 us against oneDNN's 91.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlxa.kernels import microkernel
from mlxa.kernels.llvm_ir import Call, Emitter, Kernel, compile_function
from mlxa.kernels.registry import Attrs, Site, bind_in_use, register_kernel
from mlxa.kernels.trial import against_default
from mlxa.ops.bound import Step

NV, VL = 4, 8  # at most NV vectors a block
SUMS = 8  # independent sums in flight, at least (nv vectors x rows of k): latency x pipes


def vectors(n: int) -> int:
    """Vectors a block for an output of width n: NV, or fewer where that pads less (a
    10-wide classifier's weight padded to 16 columns, not 32)."""
    return max(1, min(NV, -(-n // VL)))


@functools.cache
def compiled(nv: int) -> Kernel:
    """(w_packed, x, bias_packed, out, M, N, K, x_row, out_row, lo, hi), pointers as
    integers; x_row / out_row: floats between two rows."""
    from llvmlite import ir

    module = ir.Module(name=f"mlxa_gemv_{nv}")
    _emit(module, nv)
    return compile_function(module, "gemv_bias_clamp")


def _emit(module: Any, nv: int) -> None:
    from llvmlite import ir

    fptr = ir.FloatType().as_pointer()
    e = Emitter(module, "gemv_bias_clamp", [fptr] * 4 + [ir.IntType(64)] * 5
                + [ir.FloatType()] * 2, VL)
    b, const = e.b, e.const
    wp, x, bias, out, rows, cols, depth, x_row, out_row, lo, hi = e.fn.args
    for arg in (wp, x, bias, out):
        arg.add_attribute("noalias")
    lo_v, hi_v = e.splat(lo), e.splat(hi)
    nb = nv * VL
    split = -(-SUMS // nv)  # rows of k in flight: at least SUMS independent sums in all
    blocks = b.sdiv(b.add(cols, const(nb - 1)), const(nb))

    def row(m: Any, _: list[Any]) -> list[Any]:
        x_at, o_at = b.mul(m, x_row), b.mul(m, out_row)

        def block(blk: Any, _: list[Any]) -> list[Any]:
            col0 = b.mul(blk, const(nb))
            w_at = b.mul(col0, depth)  # the block's [K][NB] starts at blk * NB * K
            zero = e.splat(ir.Constant(ir.FloatType(), 0.0))
            init = [e.load(bias, b.add(col0, const(j * VL))) for j in range(nv)]

            def step(k: Any, acc: list[Any]) -> list[Any]:
                xs = e.splat(b.load(b.gep(x, [b.add(x_at, k)])))
                at = b.add(w_at, b.mul(k, const(nb)))
                return [e.fma(xs, e.load(wp, b.add(at, const(j * VL))), acc[j])
                        for j in range(nv)]

            def unrolled(k: Any, acc: list[Any]) -> list[Any]:
                # `split` rows of k at once, each into sums of its own
                return [v for s in range(split)
                        for v in step(b.add(k, const(s)), acc[s * nv:(s + 1) * nv])]

            whole = b.mul(b.sdiv(depth, const(split)), const(split))
            acc = e.loop(const(0), whole, const(split), unrolled,
                         init + [zero] * (nv * (split - 1)))
            acc = e.loop(whole, depth, const(1), step, acc[:nv]) + acc[nv:]
            for s in range(1, split):
                acc[:nv] = [b.fadd(a, p) for a, p in zip(acc[:nv], acc[s * nv:(s + 1) * nv])]
            for j in range(nv):
                start = b.add(col0, const(j * VL))
                e.store(e.clamp(acc[j], lo_v, hi_v), out, b.add(o_at, start),
                        e.mask(b.sub(cols, start)))
            return []

        e.loop(const(0), blocks, const(1), block)
        return []

    e.loop(const(0), rows, const(1), row)
    b.ret_void()


def gemv(x2: np.ndarray, w: np.ndarray, bias: np.ndarray | None, out2: np.ndarray,
         bounds: tuple[float, float] = (-np.inf, np.inf)) -> Call:
    """A call of out2 = clamp(x2 @ w + bias): x2 [M, K] and out2 [M, N] with contiguous rows,
    w [K, N] packed here, once."""
    if x2.strides[-1] != 4 or out2.strides[-1] != 4:
        raise ValueError("gemv: x and out need contiguous rows")
    nv = vectors(w.shape[1])
    # the microkernel's packing of W' [N, K]: blocks of nv * VL columns of W, each [K][nv * VL]
    wp, bp = microkernel.pack(w.T, bias, nv * VL)
    m, k = x2.shape
    return Call(compiled(nv), (wp, bp, x2, out2),
                (wp.ctypes.data, x2.ctypes.data, bp.ctypes.data, out2.ctypes.data, m,
                 out2.shape[1], k, x2.strides[0] // 4, out2.strides[0] // 4, *bounds))


def gemv_applies(site: Site) -> bool:
    """A gemm gemm_packed would take (linear.py: float32, B constant, C constant of B's width
    or absent, alpha = beta = 1, no epilogue) of one row."""
    from mlxa.kernels.linear import gemm_applies

    a = site.ins[0]
    return len(a.shape) == 2 and a.shape[0] == 1 and gemm_applies(site)


@register_kernel("gemm", name="gemv_llvm", technique="llvm", applies=gemv_applies,
                 requires=("llvmlite",))
def bind_gemv(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
              workspace: np.ndarray | None) -> Step:
    """A @ B' + C of one row: the weight packed once, the bias in the store."""
    from mlxa.kernels.linear import gemm_operands

    w, bias = gemm_operands(ins, attrs)
    return against_default(lambda: gemv(ins[0], w, bias, outs[0]), "gemv_llvm",
                           lambda: _default(ins, outs, attrs, workspace))


def _default(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
             workspace: np.ndarray | None) -> tuple[Step, str]:
    """gemm_packed's pick (oneDNN's prepacked product or numpy's) where it is in use, else
    the op table's gemm."""
    from mlxa.ops import get_op

    return (bind_in_use("gemm_packed", ins, outs, attrs, workspace)
            or (get_op("gemm").bound(ins, outs, attrs, workspace), "numpy"))
