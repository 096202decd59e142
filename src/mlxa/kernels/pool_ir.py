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

Any other max pool of equal strides 1 or 2 (ResNet's 3x3 stride-2 window with pads of 1) runs
depthwise_ir.py's loops in their pool mode (`max_pool_window`): a max pool is a depthwise conv
with max for the multiply-add, no weights and -inf for the padding. The general Numba loop is
scalar, output by output, and lost to the op table's strided passes there.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlxa.kernels.llvm_ir import Call, Emitter, Kernel, compile_function
from mlxa.kernels.pool import classic, pool_applies
from mlxa.kernels.registry import Attrs, Site, bind_in_use, register_kernel
from mlxa.kernels.trial import where_contiguous
from mlxa.ops import get_op
from mlxa.ops.bound import Step
from mlxa.ops.pool import geometry

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
    return where_contiguous((x, out), lambda: pool2x2(x, out, op == "max_pool"), f"{op}_vector",
                            lambda: _default(op, ins, outs, attrs, workspace),
                            classic(x.shape, out.shape, attrs))


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


def window_applies(site: Site) -> bool:
    """pool_applies' float32 NCHW max pools of equal strides 1 or 2, at most MAX_TAPS taps,
    without ceil_mode (each window starts inside the input or its padding)."""
    from mlxa.kernels.depthwise_ir import MAX_TAPS

    if not pool_applies(site) or site.attrs.get("ceil_mode", 0):
        return False
    kh, kw = site.attrs.get("kernel_shape", (1, 1))
    return (tuple(site.attrs.get("strides", (1, 1))) in ((1, 1), (2, 2))
            and kh * kw <= MAX_TAPS and int(site.attrs.get("storage_order", 0)) == 0)


def max_pool_window(x: np.ndarray, out: np.ndarray, attrs: Attrs) -> Call:
    """A call of depthwise_ir's loops as a max pool: x and out C-contiguous NCHW."""
    from mlxa.kernels.depthwise_ir import loops_call

    win = geometry(x.shape, attrs)
    if not (x.flags.c_contiguous and out.flags.c_contiguous) or out.shape != (
            *x.shape[:2], win.out_h, win.out_w):
        raise ValueError("max_pool_window: C-contiguous x and out of the window's shape")
    return loops_call(x, out, (win.kh, win.kw), win.strides[0], (win.pads[0], win.pads[1]),
                      None, None, (-np.inf, np.inf))


@register_kernel("max_pool", name="max_pool_window", technique="llvm", applies=window_applies,
                 requires=("llvmlite",))
def bind_max_pool_window(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
                         workspace: np.ndarray | None) -> Step:
    """Max pooling over any window of strides 1 or 2: the depthwise loops' pool mode."""
    return where_contiguous((ins[0], outs[0]), lambda: max_pool_window(ins[0], outs[0], attrs),
                            "max_pool_window",
                            lambda: _default("max_pool", ins, outs, attrs, workspace))


@register_kernel("avg_pool", name="avg_pool_vector", technique="llvm", applies=pool2x2_applies,
                 requires=("llvmlite",))
def bind_avg_pool(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
                  workspace: np.ndarray | None) -> Step:
    """2x2 average pooling at stride 2 (no padding: every window holds four)."""
    return _bind("avg_pool", ins, outs, attrs, workspace)
