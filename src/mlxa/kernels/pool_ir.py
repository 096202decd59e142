"""The classic CNN pool, 2x2 windows at stride 2 without padding, as LLVM IR vector loops
(llvm_ir.py): max or mean of four. For each plane and output row, VL outputs at a time read two
vectors from each of the window's two input rows (their 2 * VL columns), take each pair's even
and odd lanes apart with one shuffle each, and reduce the four vectors in registers; a row's last,
partial vector loads and stores through masks. Max propagates NaN, as numpy's maximum does.

pool_loops.pool2x2's Numba loop runs the same windows output by output: a 14-wide output row is
too short for its vectorised inner loop, and small_cnn's 32 x 28 x 28 max pool took 7.2 us
there against 2.7 us here (its 64 x 14 x 14 average pool 2.6 against 1.2; one script timing
both in turns, warm). The kernels bind where the window is 2x2 at
stride 2, and keep the faster of themselves and what would bind without them (kernels/trial.py).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlxa.kernels.llvm_ir import Call, Emitter, Kernel, compile_function
from mlxa.kernels.pool import classic, pool_applies
from mlxa.kernels.registry import Attrs, Site, bind_in_use, register_kernel
from mlxa.kernels.trial import Bound, against_default
from mlxa.ops import get_op
from mlxa.ops.bound import Step

VL = 8


def pool2x2_applies(site: Site) -> bool:
    """pool_applies' float32 NCHW pools whose windows are 2x2 at stride 2 without padding,
    each whole inside the input (pool.classic: not ceil_mode's partial window at an odd
    edge)."""
    return pool_applies(site) and classic(site.ins[0].shape, site.outs[0].shape, site.attrs)


@functools.cache
def compiled(is_max: bool) -> Kernel:
    """(x, out, planes, H, W, OH, OW): x [planes, H, W] and out [planes, OH, OW] contiguous,
    2 * OH <= H and 2 * OW <= W."""
    from llvmlite import ir

    module = ir.Module(name="mlxa_pool2x2")
    _emit(module, is_max)
    return compile_function(module, "pool2x2")


def _emit(module: Any, is_max: bool) -> None:
    from llvmlite import ir

    fptr = ir.FloatType().as_pointer()
    e = Emitter(module, "pool2x2", [fptr] * 2 + [ir.IntType(64)] * 5, VL)
    b, const = e.b, e.const
    x, out, planes, h, w, oh, ow = e.fn.args
    for arg in (x, out):
        arg.add_attribute("noalias")
    quarter = e.splat(ir.Constant(e.f32, 0.25))

    def combine(a: Any, c: Any) -> Any:
        return b.call(e.intrinsic("llvm.maximum", 2), [a, c]) if is_max else b.fadd(a, c)

    def plane(p: Any, _: list[Any]) -> list[Any]:
        src, dst = b.mul(p, b.mul(h, w)), b.mul(p, b.mul(oh, ow))

        def row(oy: Any, _: list[Any]) -> list[Any]:
            top = b.add(src, b.mul(b.mul(oy, const(2)), w))
            rows = (top, b.add(top, w))
            at = b.add(dst, b.mul(oy, ow))

            def vector(ox: Any, masked: bool) -> None:
                """VL outputs from ox; masked, those of the row's last, partial vector."""
                left = b.sub(ow, ox)
                halves = ((e.mask(b.mul(left, const(2))),
                           e.mask(b.sub(b.mul(left, const(2)), const(VL))))
                          if masked else (None, None))
                pairs = []
                for r in rows:
                    first = b.add(r, b.mul(ox, const(2)))
                    lo_, hi_ = (e.load(x, b.add(first, const(k * VL)), halves[k])
                                for k in range(2))
                    pairs += [e.every_other(lo_, hi_), e.every_other(lo_, hi_, odd=True)]
                v = combine(combine(pairs[0], pairs[1]), combine(pairs[2], pairs[3]))
                e.store(v if is_max else b.fmul(v, quarter), out, b.add(at, ox),
                        e.mask(left) if masked else None)

            def whole_vectors(ox: Any, _: list[Any]) -> list[Any]:
                vector(ox, False)
                return []

            whole = b.mul(b.sdiv(ow, const(VL)), const(VL))
            e.loop(const(0), whole, const(VL), whole_vectors)
            with b.if_then(b.icmp_signed("<", whole, ow)):
                vector(whole, True)
            return []

        e.loop(const(0), oh, const(1), row)
        return []

    e.loop(const(0), planes, const(1), plane)
    b.ret_void()


def pool2x2(x: np.ndarray, out: np.ndarray, is_max: bool) -> Call:
    """A call of the pool: x and out C-contiguous NCHW, 2 * OH <= H, 2 * OW <= W."""
    if not (x.flags.c_contiguous and out.flags.c_contiguous):
        raise ValueError("pool2x2: x and out must be C-contiguous")
    n, c, h, w = x.shape
    oh, ow = out.shape[2], out.shape[3]
    if 2 * oh > h or 2 * ow > w:
        raise ValueError(f"pool2x2: a {oh}x{ow} output needs a {2 * oh}x{2 * ow} input")
    return Call(compiled(is_max), (x, out),
                (x.ctypes.data, out.ctypes.data, n * c, h, w, oh, ow))


def _bind(op: str, ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
          workspace: np.ndarray | None) -> Step:
    x, out = ins[0], outs[0]
    if not (classic(x.shape, out.shape, attrs) and x.flags.c_contiguous
            and out.flags.c_contiguous):
        return Bound(*_default(op, ins, outs, attrs, workspace))  # named for the report
    return against_default(lambda: pool2x2(x, out, op == "max_pool"), f"{op}_vector",
                           lambda: _default(op, ins, outs, attrs, workspace))


def _default(op: str, ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
             workspace: np.ndarray | None) -> tuple[Step, str]:
    """The Numba loop where it is in use (registry.in_use), else the op table's pool."""
    return (bind_in_use(f"{op}_loop", ins, outs, attrs, workspace)
            or (get_op(op).bound(list(ins), list(outs), attrs, workspace), "numpy"))


@register_kernel("max_pool", name="max_pool_vector", technique="llvm", applies=pool2x2_applies,
                 requires=("llvmlite",))
def bind_max_pool(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
                  workspace: np.ndarray | None) -> Step:
    """2x2 max pooling at stride 2: vectors of outputs, the window's pairs split by shuffles."""
    return _bind("max_pool", ins, outs, attrs, workspace)


@register_kernel("avg_pool", name="avg_pool_vector", technique="llvm", applies=pool2x2_applies,
                 requires=("llvmlite",))
def bind_avg_pool(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
                  workspace: np.ndarray | None) -> Step:
    """2x2 average pooling at stride 2 (no padding: every window holds four)."""
    return _bind("avg_pool", ins, outs, attrs, workspace)
