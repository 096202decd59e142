"""Winograd's F(2x2, 3x3) with compiled transforms (kernels/winograd_ir.py): against the float64
reference over bands of tile rows and groups of framed items of every size the band budget
gives (a band within one tile row's width, a band of several items, a last group shorter than
the others), odd and even output sizes around the 8-tile vectors, uneven padding, each clamp;
nothing stored outside the output; the same result on a second call over the same scratch; the
transforms alone against their matrices; and a compiled model whose trial keeps it, passing
the oracle."""

from __future__ import annotations

import numpy as np
import pytest
from llvm_kernels import MARKS

from mlxa.compiler import CompileOptions
from mlxa.ir.builder import GraphBuilder
from mlxa.kernels.reference import conv_reference
from mlxa.ops.spatial import window

pytestmark = MARKS
RNG = np.random.default_rng(23)
BOUNDS = {"none": (-np.inf, np.inf), "relu": (0.0, np.inf), "clip": (-1.0, 1.5)}


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("bounds", sorted(BOUNDS))
@pytest.mark.parametrize("shape,o,pads,band_nbytes", [
    ((1, 4, 6, 6), 5, (1, 1, 1, 1), 1 << 21),  # one band, one item, 3 x 3 tiles
    ((3, 8, 28, 28), 16, (1, 1, 1, 1), 1 << 21),  # three items in one group: 14 tiles a row
    ((5, 3, 9, 9), 7, (1, 1, 1, 1), 10 * 16 * 10 * 5 * 4),  # groups of 2 items, the last of 1
    ((2, 5, 11, 17), 3, (0, 2, 1, 0), 3000),  # a band of one tile row, odd output
    ((1, 6, 40, 33), 4, (2, 1, 0, 3), 5000),  # 19 x 17 tiles, bands of a few rows
    ((2, 16, 5, 5), 24, (1, 1, 1, 1), 1 << 21),  # more outputs than the microkernel's block
    ((1, 3, 3, 3), 2, (0, 0, 0, 0), 1 << 21),  # one output pixel
    ((1, 2, 34, 36), 9, (1, 1, 1, 1), 1 << 21),  # 17 and 18 tiles: a full vector and a tail
])
def test_winograd_matches_the_float64_reference_and_stores_only_its_output(
        shape: tuple[int, ...], o: int, pads: tuple[int, ...], band_nbytes: int,
        bounds: str) -> None:
    from mlxa.kernels import winograd_ir

    n, c, h, wd = shape
    x, w, b = f32(*shape), f32(o, c, 3, 3), f32(o)
    win = window(h, wd, 3, 3, {"pads": pads})
    lo, hi = BOUNDS[bounds]
    size = n * o * win.out_h * win.out_w
    buffer = np.full(size + 64, 7.0, np.float32)  # 32 sentinels either side
    out = buffer[32:32 + size].reshape(n, o, win.out_h, win.out_w)
    out[:] = np.nan
    workspace = np.full(1 << 22, 0xFF, np.uint8)  # NaN floats: every scratch value is written
    step = winograd_ir.bind(x, w, b, out, win, (lo, hi), workspace, band_nbytes)
    want = conv_reference(x, w, b, (1, 1), pads, lo, hi)
    for _ in range(2):
        step()
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=3e-5)
        assert (buffer[:32] == 7.0).all() and (buffer[-32:] == 7.0).all()
        out[:] = np.nan


def test_the_transforms_are_their_matrices() -> None:
    """V = B^T d B for every tile of every channel (read from the framed input), and A^T M A
    clamped, against numpy's products with the matrices."""
    from mlxa.kernels import winograd_ir
    from mlxa.kernels.llvm_ir import Call

    bt = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float64)
    at = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float64)
    n, c, th, tw = 2, 3, 3, 11
    plane = f32(n, c, 2 * th + 2, 2 * tw + 2)
    cols = n * th * tw
    v = np.full((16, c, cols), np.nan, np.float32)
    Call(winograd_ir.input_transform(), (plane, v),
         (plane.ctypes.data, v.ctypes.data, c, 0, n * th, th, tw, plane[0].size,
          plane[0, 0].size, plane.shape[-1], cols, c * cols))()
    d = np.lib.stride_tricks.sliding_window_view(plane.astype(np.float64), (4, 4), (2, 3))
    d = d[:, :, ::2, ::2][:, :, :th, :tw]  # (n, c, th, tw, 4, 4)
    want = np.einsum("ai,nctuij,bj->abcntu", bt, d, bt).reshape(16, c, cols)
    np.testing.assert_allclose(v, want, rtol=1e-6, atol=1e-5)

    o, oh, ow = 4, 2 * th - 1, 2 * tw - 1  # odd: the last tile row and column are cut
    m = f32(16, o, cols)
    out = np.full((n, o, oh, ow), np.nan, np.float32)
    Call(winograd_ir.output_transform(), (m, out),
         (m.ctypes.data, out.ctypes.data, o, 0, n * th, th, tw, cols, o * cols,
          o * oh * ow, oh, ow, -0.5, 2.0))()
    y = np.einsum("ia,abontu,jb->ontiuj", at, m.astype(np.float64).reshape(
        4, 4, o, n, th, tw), at).reshape(o, n, 2 * th, 2 * tw)
    want = np.clip(y.transpose(1, 0, 2, 3)[..., :oh, :ow], -0.5, 2.0)
    np.testing.assert_allclose(out, want, rtol=1e-6, atol=1e-5)


def test_strided_arrays_are_refused_and_the_weights_are_read_at_bind_time() -> None:
    """A view of half the channels (input or output) is refused by name; a weight changed in
    place and bound again is the new weight (nothing derived from it is kept between binds)."""
    from mlxa.kernels import winograd_ir
    from mlxa.ops import conv_winograd

    x, w = f32(2, 8, 6, 6), f32(4, 4, 3, 3)
    win = window(6, 6, 3, 3, {"pads": (1, 1, 1, 1)})
    out = np.zeros((2, 4, 6, 6), np.float32)
    with pytest.raises(ValueError, match="input must be C-contiguous"):
        winograd_ir.bind(x[:, :4], w, None, out, win, BOUNDS["none"], None)
    with pytest.raises(ValueError, match="output must be C-contiguous"):
        winograd_ir.bind(x[:, 4:].copy(), w, None, np.zeros((2, 8, 6, 6), np.float32)[:, :4],
                         win, BOUNDS["none"], None)
    x = x[:, 4:].copy()
    cached = len(conv_winograd._PACKED)
    winograd_ir.bind(x, w, None, out, win, BOUNDS["none"], None)()
    w *= 2
    winograd_ir.bind(x, w, None, out, win, BOUNDS["none"], None)()
    want = conv_reference(x, w, np.zeros(4, np.float32), (1, 1), (1, 1, 1, 1))
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=3e-5)
    assert len(conv_winograd._PACKED) == cached  # the op table's cache is not filled


def test_only_3x3_stride_1_undilated_convs_are_taken() -> None:
    from mlxa.kernels.winograd_ir import takes

    assert takes((8, 4, 3, 3), window(9, 9, 3, 3, {"pads": (1, 1, 1, 1)}))
    assert not takes((8, 4, 3, 3), window(9, 9, 3, 3, {"strides": (2, 2)}))
    assert not takes((8, 4, 3, 3), window(9, 9, 3, 3, {"dilations": (2, 2)}))
    assert not takes((8, 4, 5, 5), window(9, 9, 5, 5, {}))
    assert not takes((8, 4, 3, 1), window(9, 9, 3, 1, {}))


def test_a_compiled_model_keeps_winograd_where_it_wins_and_passes_the_oracle(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """conv_gemm's trial of its ways, made to keep the last way offered: Winograd for the 3x3
    stride-1 convs, across items for the strided one (its 7 x 7 output is a small map); the
    model passes the oracle."""
    from mlxa.kernels import conv_gemm
    from mlxa.oracle import check
    from mlxa.runtime.compiled import compile_model
    from mlxa.runtime.eager import EagerModel

    monkeypatch.setattr(conv_gemm, "faster", lambda kept, new: False)
    g = GraphBuilder("convs")
    x = g.input((2, 8, 14, 14))
    y = g.op("relu", g.op("conv", x, g.param(f32(16, 8, 3, 3) * 0.3), g.param(f32(16)),
                          pads=(1, 1, 1, 1)))
    y = g.op("clip", g.op("conv", y, g.param(f32(16, 16, 3, 3) * 0.2), pads=(1, 1, 1, 1)),
             min=0.0, max=6.0)
    y = g.op("conv", y, g.param(f32(8, 16, 3, 3) * 0.2), strides=(2, 2), pads=(1, 1, 1, 1))
    graph = g.build(y)
    seen: list[str] = []
    keep = conv_gemm.keep_fastest

    def spy(bindings, first_wins):  # type: ignore[no-untyped-def]
        kept = keep(bindings, first_wins)
        seen.append(kept.variant)
        return kept

    monkeypatch.setattr(conv_gemm, "keep_fastest", spy)
    m = compile_model(graph, CompileOptions(kernels=("llvm",)))
    assert seen == ["winograd", "winograd", "across_items"]
    inputs = [f32(2, 8, 14, 14)]
    want = tuple(np.array(a) for a in EagerModel(graph)(*inputs))
    assert check(graph, inputs, want, m(*inputs)).passed
