"""Depthwise convs (one input channel per group) + bias + relu/clip as LLVM IR vector loops
(llvm_ir.py), for any map size. Per channel, the input is copied into a zero-bordered plane
(owned by the kernel, its border zeroed once at bind time; two planes, the next channel copied
in while this one is computed: a load right after a masked store it overlaps waits for it).
Then each group of output rows accumulates its kh x kw taps over runs of NJ x VL output columns
in registers, input row by input row: each shifted vector is loaded once and added into every
output row whose window holds it. Stride 2 loads two vectors and keeps the even lanes; the
row's last run stores through a mask. A 7-wide row takes one vector, not a run of four.

On MobileNetV2's 7x7 and 14x14 maps this beats depthwise_act's Numba loops by 15-45%; on its
56x56 and 112x112 maps the Numba loops stay faster (benchmarks/depthwise.py). So binding runs
both (or the op table's conv, without Numba) in turns (kernels/trial.py) and keeps the faster."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlxa.kernels.epilogue import clamp, table_conv, takes_activation
from mlxa.kernels.generated import count
from mlxa.kernels.llvm_ir import Call, Emitter, compile_function, host_features
from mlxa.kernels.registry import KERNELS, Attrs, Site, in_use, register_kernel
from mlxa.kernels.trial import against_default
from mlxa.ops.bound import Step

F32 = np.dtype(np.float32)
VL = 8  # floats per vector (256 bits)
MAX_TAPS = 49  # kh * kw: the weights of a channel stay in registers


@functools.cache
def run_vectors() -> int:
    """NJ, the most vectors per run of output columns: 4 with AVX-512's 32 registers, 2 with
    AVX2's 16 (the kh x kw weights take one register each); narrower rows take fewer."""
    return 4 if "avx512f" in host_features() else 2


def depthwise_applies(site: Site) -> bool:
    """float32 NCHW depthwise conv (group = channels, one weight channel each) with a constant
    weight (and bias), dilation 1, equal strides 1 or 2, pads smaller than the kernel, at most
    MAX_TAPS taps; relu, clip or no epilogue."""
    if len(site.ins) < 2 or len(site.ins[0].shape) != 4 or len(site.ins[1].shape) != 4:
        return False
    x, w = site.ins[0], site.ins[1]
    if x.dtype != F32 or w.dtype != F32 or not all(site.params[1:]):
        return False
    c = x.shape[1]
    if int(site.attrs.get("group", 1)) != c or w.shape[:2] != (c, 1):
        return False
    if tuple(site.attrs.get("dilations", (1, 1))) != (1, 1) or w.shape[2] * w.shape[3] > MAX_TAPS:
        return False
    if tuple(site.attrs.get("strides", (1, 1))) not in ((1, 1), (2, 2)):
        return False
    pt, pl, pb, pr = (int(p) for p in site.attrs.get("pads", (0, 0, 0, 0)))
    if min(pt, pl, pb, pr) < 0 or max(pt, pb) >= w.shape[2] or max(pl, pr) >= w.shape[3]:
        return False
    return site.epilogue is None or takes_activation(site)


def rows_at_once(nj: int) -> int:
    """Output rows computed together: 8 independent accumulators in all, so that the fused
    multiply-adds of one tap overlap (a chain of 9 taps on one accumulator waits on each)."""
    return max(1, 8 // nj)


def plane_shape(h: int, w: int, kh: int, kw: int, stride: int, pads: Sequence[int],
                oh: int, ow: int, nj: int) -> tuple[int, int]:
    """(rows, pitch) of the padded plane: every row and column a tap reads (groups of rows,
    runs of nj x VL columns, stride 2 reading two vectors) and the input at (top, left)."""
    run, group = nj * VL, rows_at_once(nj)
    cols = -(-ow // run) * run
    rows = max((-(-oh // group) * group - 1) * stride + kh, pads[0] + h)
    pitch = max(stride * cols + kw + VL, pads[1] + w)
    return rows, -(-pitch // VL) * VL


@register_kernel("conv", name="depthwise_vector", technique="llvm", applies=depthwise_applies,
                 requires=("llvmlite",))
def bind_depthwise(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
                   workspace: np.ndarray | None) -> Step:
    """Depthwise conv + bias + relu/clip: per channel a padded plane, then vector runs."""
    x, out = ins[0], outs[0]
    if not (x.flags.c_contiguous and out.flags.c_contiguous):
        return _default(ins, outs, attrs, workspace)[0]
    return against_default(lambda: product(ins, out, attrs), "depthwise_vector",
                           lambda: _default(ins, outs, attrs, workspace))


def product(ins: Sequence[np.ndarray], out: np.ndarray, attrs: Attrs) -> Call:
    """The vector loops' call: x and out C-contiguous."""
    x, w = ins[0], ins[1]
    n, c, h, wd = x.shape
    kh, kw = w.shape[2], w.shape[3]
    stride = int(attrs.get("strides", (1, 1))[0])
    pads = [int(p) for p in attrs.get("pads", (0, 0, 0, 0))]
    oh, ow = out.shape[2], out.shape[3]
    nj = min(run_vectors(), -(-ow // VL))  # a 7-wide row takes one vector, not a run of four
    rows, pitch = plane_shape(h, wd, kh, kw, stride, pads, oh, ow, nj)
    half = rows * pitch
    plane = np.zeros(2 * half + VL, np.float32)  # two planes, channels alternating; the
    # border stays zero: only the interior is written. Its own, so not carved from the
    # planned workspace (which other nodes write), but counted as its scratch
    count(plane.nbytes)
    taps = np.ascontiguousarray(w.reshape(c, kh * kw))
    bias = np.ascontiguousarray(ins[2]) if len(ins) == 3 else np.zeros(c, np.float32)
    lo, hi = clamp(attrs)
    kernel = compiled(kh, kw, stride, nj)
    return Call(kernel, (x, taps, bias, out, plane),
                (x.ctypes.data, taps.ctypes.data, bias.ctypes.data, out.ctypes.data,
                 plane.ctypes.data, n * c, c, h, wd, oh, ow, pitch,
                 pads[0] * pitch + pads[1], half, lo, hi))


def _default(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
             workspace: np.ndarray | None) -> tuple[Step, str]:
    """What binds without this kernel, and its name: depthwise_act's loops where they are in
    use (registry.in_use), else the op table's conv (and its epilogue)."""
    if in_use("depthwise_act"):
        numba = KERNELS["depthwise_act"]
        return numba.bind(ins, outs, attrs, workspace), numba.name
    return table_conv(ins, outs, attrs, workspace), "numpy"


@functools.cache
def compiled(kh: int, kw: int, stride: int, nj: int) -> Any:
    """(x, taps, bias, out, plane, planes, C, H, W, OH, OW, pitch, origin, half, lo, hi):
    `planes` = N x C, `origin` the offset of the input's first float in a plane, `half` the
    floats of one plane (the buffer holds two)."""
    from llvmlite import ir

    module = ir.Module(name="mlxa_depthwise")
    _emit(module, kh, kw, stride, nj)
    return compile_function(module, "depthwise")


def _emit(module: Any, kh: int, kw: int, stride: int, nj: int) -> None:
    from llvmlite import ir

    fptr = ir.FloatType().as_pointer()
    e = Emitter(module, "depthwise", [fptr] * 5 + [ir.IntType(64)] * 9 + [ir.FloatType()] * 2,
                VL)
    b, const = e.b, e.const
    x, taps, bias, out, plane, planes, chans, h, w, oh, ow, pitch, origin, half, lo, hi = \
        e.fn.args
    for arg in (x, taps, bias, out, plane):
        arg.add_attribute("noalias")
    lo_v, hi_v = e.splat(lo), e.splat(hi)
    run, group = nj * VL, rows_at_once(nj)
    evens = ir.Constant(ir.VectorType(e.i32, VL), list(range(0, 2 * VL, 2)))

    def copy_in(p: Any) -> None:
        """Input plane p into its half of the double buffer (p's parity)."""
        src = b.mul(p, b.mul(h, w))
        into = b.add(origin, b.mul(b.and_(p, const(1)), half))

        def copy_row(y: Any, _: list[Any]) -> list[Any]:
            def copy(col: Any, _: list[Any]) -> list[Any]:
                m = e.mask(b.sub(w, col))
                v = e.load(x, b.add(src, b.add(b.mul(y, w), col)), m)
                e.store(v, plane, b.add(into, b.add(b.mul(y, pitch), col)), m)
                return []
            e.loop(const(0), w, const(VL), copy)
            return []

        e.loop(const(0), h, const(1), copy_row)

    with b.if_then(b.icmp_signed(">", planes, const(0))):
        copy_in(const(0))

    def channel(p: Any, _: list[Any]) -> list[Any]:
        # the next plane is copied in before this one is read: its stores are long done when
        # its loads come (a load right after a masked store it overlaps waits for it)
        nxt = b.add(p, const(1))
        with b.if_then(b.icmp_signed("<", nxt, planes)):
            copy_in(nxt)
        ch = b.srem(p, chans)
        dst = b.mul(p, b.mul(oh, ow))
        at_plane = b.mul(b.and_(p, const(1)), half)
        weights = [e.splat(b.load(b.gep(taps, [b.add(b.mul(ch, const(kh * kw)), const(t))])))
                   for t in range(kh * kw)]
        b0 = e.splat(b.load(b.gep(bias, [ch])))

        def out_rows(oy: Any, _: list[Any]) -> list[Any]:
            def columns(col: Any, _: list[Any]) -> list[Any]:
                # input row by input row: each shifted vector loaded once, added into every
                # output row of the group whose window holds that row
                acc = [b0] * (group * nj)
                for i in range(stride * (group - 1) + kh):
                    row = b.add(at_plane,
                                b.mul(b.add(b.mul(oy, const(stride)), const(i)), pitch))
                    for kx in range(kw):
                        for j in range(nj):
                            at = b.add(row, b.add(b.mul(b.add(col, const(j * VL)),
                                                        const(stride)), const(kx)))
                            if stride == 1:
                                v = e.load(plane, at)
                            else:
                                v = b.shuffle_vector(e.load(plane, at),
                                                     e.load(plane, b.add(at, const(VL))), evens)
                            for ky in range(kh):
                                r, off = divmod(i - ky, stride)
                                if off == 0 and 0 <= r < group:
                                    acc[r * nj + j] = e.fma(weights[ky * kw + kx], v,
                                                            acc[r * nj + j])
                for r in range(group):
                    with b.if_then(b.icmp_signed("<", b.add(oy, const(r)), oh)):
                        base = b.add(dst, b.add(b.mul(b.add(oy, const(r)), ow), col))
                        for j in range(nj):
                            left = b.sub(ow, b.add(col, const(j * VL)))
                            with b.if_then(b.icmp_signed(">", left, const(0))):
                                e.store(e.clamp(acc[r * nj + j], lo_v, hi_v), out,
                                        b.add(base, const(j * VL)), e.mask(left))
                return []

            e.loop(const(0), ow, const(run), columns)
            return []

        e.loop(const(0), oh, const(group), out_rows)
        return []

    e.loop(const(0), planes, const(1), channel)
    b.ret_void()
