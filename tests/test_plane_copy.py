"""plane_copy.frame, the IR copy that pads a stack of planes with zeros and crops one: every
destination element written (NaN sentinels), the source where it belongs, zeros elsewhere, for
rows shorter than a vector, as long as several, and sources whose rows or items are strided.
Also llvm_ir.Call, through which every bound IR kernel runs: its slots against a direct call."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("llvmlite") is None,
                                reason="llvmlite is not installed (pip install 'mlxa[kernels]')")
RNG = np.random.default_rng(5)


@pytest.mark.parametrize("shape,top,left,bottom,right", [
    ((3, 5, 4), 1, 1, 1, 1),       # rows shorter than a vector
    ((2, 7, 30), 0, 3, 2, 0),      # several vectors and a tail, uneven pads
    ((4, 1, 8), 2, 0, 0, 9),       # exactly one vector; a right border past a vector
    ((1, 6, 17), 0, 0, 0, 0),      # no padding: a plain copy
    ((6, 9), 3, 2, 3, 2),          # one plane, no leading axis
])
def test_frame_pads_with_zeros(shape: tuple[int, ...], top: int, left: int, bottom: int,
                               right: int) -> None:
    from mlxa.kernels.plane_copy import frame

    src = RNG.standard_normal(shape).astype(np.float32)
    *lead, h, w = shape
    dst = np.full((*lead, top + h + bottom, left + w + right), np.nan, np.float32)
    call = frame(src, dst, top, left)
    call()
    pads = [(0, 0)] * len(lead) + [(top, bottom), (left, right)]
    np.testing.assert_array_equal(dst, np.pad(src, pads))
    dst[:] = np.nan  # a second call writes every element again
    call()
    np.testing.assert_array_equal(dst, np.pad(src, pads))


@pytest.mark.parametrize("planes,h,wide,w", [(3, 4, 30, 28), (5, 3, 9, 3), (2, 7, 16, 14)])
def test_frame_crops_a_source_with_longer_rows(planes: int, h: int, wide: int, w: int) -> None:
    from mlxa.kernels.plane_copy import frame

    spill = RNG.standard_normal((planes, h, wide)).astype(np.float32)
    out = np.full((planes, h, w), np.nan, np.float32)
    frame(spill[:, :, :w], out, 0, 0)()
    np.testing.assert_array_equal(out, spill[:, :, :w])


def test_frame_reads_strided_items() -> None:
    """Every other plane of a stack: the items' stride is the source's, not h * w."""
    from mlxa.kernels.plane_copy import frame

    stack = RNG.standard_normal((6, 5, 11)).astype(np.float32)
    dst = np.full((3, 7, 13), np.nan, np.float32)
    frame(stack[::2], dst, 1, 1)()
    np.testing.assert_array_equal(dst, np.pad(stack[::2], ((0, 0), (1, 1), (1, 1))))


def test_frame_refuses_what_it_cannot_copy() -> None:
    from mlxa.kernels.plane_copy import frame

    src = np.zeros((2, 4, 4), np.float32)
    with pytest.raises(ValueError, match="leaves"):
        frame(src, np.zeros((2, 5, 5), np.float32), 1, 2)
    with pytest.raises(ValueError, match="leaves"):
        frame(src, np.zeros((2, 6, 6), np.float32), -1, 0)
    with pytest.raises(ValueError, match="contiguous rows"):
        frame(src[:, :, ::2], np.zeros((2, 4, 2), np.float32), 0, 0)
    with pytest.raises(ValueError, match="contiguous rows"):
        frame(src.astype(np.float64), np.zeros((2, 4, 4), np.float32), 0, 0)
    # (N, C) leading axes that do not flatten to one stride: half the channels of each item
    stack = np.zeros((3, 4, 4, 4), np.float32)
    with pytest.raises(ValueError, match="do not flatten"):
        frame(stack[:, :2], np.zeros((3, 2, 4, 4), np.float32), 0, 0)
    frame(stack[1:], np.zeros((2, 4, 4, 4), np.float32), 0, 0)  # these do


def test_a_call_through_its_slots_matches_the_direct_call() -> None:
    """llvm_ir.Call writes the arguments once into 8-byte slots (ints, pointers, and floats
    as doubles, infinities included) and calls the kernel's one-pointer entry."""
    from mlxa.kernels.llvm_ir import Call
    from mlxa.kernels.microkernel import compiled, pack

    kernel = compiled(4, 3, 8)
    w, x, b = (RNG.standard_normal(s).astype(np.float32) for s in ((5, 3), (3, 30), (5,)))
    wp, bp = pack(w, b, 4)
    outs = [np.full((5, 30), np.nan, np.float32) for _ in range(2)]
    for lo, hi in ((-np.inf, np.inf), (-0.25, 0.5)):
        args = [(wp.ctypes.data, x.ctypes.data, bp.ctypes.data, o.ctypes.data, 1, 5, 3, 30,
                 30, 30, 0, 0, lo, hi) for o in outs]
        kernel(*args[0])
        Call(kernel, (wp, x, bp, outs[1]), args[1])()
        np.testing.assert_array_equal(outs[0], outs[1])
        assert not np.isnan(outs[1]).any() and outs[1].min() >= lo and outs[1].max() <= hi
    with pytest.raises(ValueError, match="13 arguments for a kernel of 14"):
        Call(kernel, (), args[0][:13])


def test_frame_refuses_a_destination_of_another_stack() -> None:
    from mlxa.kernels.plane_copy import frame

    src = np.zeros((3, 4, 4), np.float32)
    with pytest.raises(ValueError, match="3 float32 planes"):
        frame(src, np.zeros((2, 6, 6), np.float32), 1, 1)  # fewer planes: would overrun
    with pytest.raises(ValueError, match="3 float32 planes"):
        frame(src, np.zeros((3, 6, 6), np.float64), 1, 1)


def test_a_kernel_with_an_argument_the_slots_cannot_hold_is_refused() -> None:
    from llvmlite import ir

    from mlxa.kernels.llvm_ir import compile_function

    module = ir.Module(name="bad")
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [ir.IntType(32)]), name="f")
    ir.IRBuilder(fn.append_basic_block()).ret_void()
    with pytest.raises(TypeError, match="argument 0 is i32"):
        compile_function(module, "f")
