"""Copying stacks of 2-D planes into a frame of zeros, or out of one, as LLVM IR (llvm_ir.py):
the padding before a conv and the cropping after one, where numpy's strided copy costs more
than the conv's arithmetic on a small map (a 32 x 28 x 28 plane into its 30 x 30 frame: 11.6 us
by numpy, 1-2 us here).

    dst[i, r, q] = src[i, r - top, q - left] where that lies inside src, else 0

for every item i and every (r, q) of the destination, which is contiguous (dst_h x dst_w per
item) and holds the source at (top, left) >= 0. The source's rows are `src_row` floats apart and
its items `src_item`, so a crop is the same copy from a source with longer rows (top = left =
0). Each destination row is three runs, zeros | the source's row | zeros (or one run of zeros
above and below the source), each written as whole vectors and then its last VL floats again
(rewriting some with the same values; a run shorter than a vector is one masked store).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from mlxa.kernels.llvm_ir import Call, Emitter, Kernel, compile_function

VL = 8


@functools.cache
def compiled() -> Kernel:
    """(src, dst, items, src_h, src_w, src_row, src_item, dst_h, dst_w, top, left), pointers
    as integers."""
    from llvmlite import ir

    module = ir.Module(name="mlxa_plane_copy")
    _emit(module)
    return compile_function(module, "plane_copy")


def _emit(module: Any) -> None:
    from llvmlite import ir

    fptr = ir.FloatType().as_pointer()
    e = Emitter(module, "plane_copy", [fptr] * 2 + [ir.IntType(64)] * 9, VL)
    b, const = e.b, e.const
    src, dst, items, src_h, src_w, src_row, src_item, dst_h, dst_w, top, left = e.fn.args
    for arg in (src, dst):
        arg.add_attribute("noalias")
    zero, step = const(0), const(VL)
    zeros = ir.Constant(e.vec, None)
    right = b.sub(b.sub(dst_w, left), src_w)

    def run(d_at: Any, count: Any, s_at: Any = None) -> None:
        """count floats to dst[d_at:], from src[s_at:] or zeros: whole vectors, then the
        last VL again (a run shorter than VL: one masked vector)."""
        full = b.mul(b.sdiv(count, step), step)

        def vector(q: Any, _: list[Any]) -> list[Any]:
            v = zeros if s_at is None else e.load(src, b.add(s_at, q))
            e.store(v, dst, b.add(d_at, q))
            return []

        e.loop(zero, full, step, vector)
        with b.if_then(b.icmp_signed("<", full, count)):
            with b.if_else(b.icmp_signed(">=", count, step)) as (long, short):
                with long:  # the run's last VL floats again: no mask needed
                    vector(b.sub(count, step), [])
                with short:
                    keep = e.mask(count)
                    v = zeros if s_at is None else e.load(src, s_at, keep)
                    e.store(v, dst, d_at, keep)

    def item(i: Any, _: list[Any]) -> list[Any]:
        s_base, d_base = b.mul(i, src_item), b.mul(i, b.mul(dst_h, dst_w))

        def row(r: Any, _: list[Any]) -> list[Any]:
            sr = b.sub(r, top)
            inside = b.and_(b.icmp_signed(">=", sr, zero), b.icmp_signed("<", sr, src_h))
            d_row = b.add(d_base, b.mul(r, dst_w))
            with b.if_else(inside) as (then, otherwise):
                with then:
                    run(d_row, left)
                    run(b.add(d_row, left), src_w, b.add(s_base, b.mul(sr, src_row)))
                    run(b.add(b.add(d_row, left), src_w), right)
                with otherwise:
                    run(d_row, dst_w)
            return []

        e.loop(zero, dst_h, const(1), row)
        return []

    e.loop(zero, items, const(1), item)
    b.ret_void()


def frame(src: np.ndarray, dst: np.ndarray, top: int, left: int) -> Call:
    """A call writing src (..., h, w), whose last axis is contiguous and whose leading axes
    flatten to one stride, into dst (..., H, W), C-contiguous, at (top, left), zeros around
    it."""
    *lead, h, w = src.shape
    if top < 0 or left < 0 or top + h > dst.shape[-2] or left + w > dst.shape[-1]:
        raise ValueError(f"frame: a {h}x{w} source at ({top}, {left}) leaves {dst.shape}")
    items = int(np.prod(lead))
    src_row, src_item = src.strides[-2] // 4, (src.strides[-3] // 4 if lead else 0)
    if src.strides[-1] != 4 or src.dtype != np.float32 or not dst.flags.c_contiguous:
        raise ValueError("frame: a float32 source with contiguous rows into a C-contiguous dst")
    if lead:
        try:  # a view, or ValueError where the leading axes need a copy to flatten
            flat = src.reshape((items, h, w), copy=False)
        except ValueError:
            flat = None
        if flat is None or flat.strides[0] // 4 != src_item:
            raise ValueError("frame: the source's leading axes do not flatten to one stride")
    if dst.dtype != np.float32 or dst.ndim < 2 or int(np.prod(dst.shape[:-2])) != items:
        raise ValueError(f"frame: {items} float32 planes into {dst.dtype} {dst.shape}")
    return Call(compiled(), (src, dst),
                (src.ctypes.data, dst.ctypes.data, items, h, w, src_row, src_item,
                 dst.shape[-2], dst.shape[-1], top, left))
