"""mlxa's own microkernel (kernels/microkernel.py) and the conv kernel built on it
(kernels/conv_gemm.py): the product against float64 over every edge of its blocking (row counts
around MR, column counts around each vector and run, one column, batch 2, rows with a stride
longer than their length) with nothing stored outside the output; each blocking a CPU may get;
rows read through an offset table; convs of every kind (1x1, strided, padded, dilated, 7x7;
stride 1 by the offset table, padded or not) with each epilogue against the float64 reference;
the predicate's refusals; a compiled model that chooses it and passes the oracle."""

from __future__ import annotations

import numpy as np
import pytest
from conv_sites import site
from llvm_kernels import MARKS

from mlxa.compiler import CompileOptions
from mlxa.ir.builder import GraphBuilder
from mlxa.ir.graph import TensorType
from mlxa.kernels import library  # noqa: F401
from mlxa.kernels.reference import conv_reference
from mlxa.kernels.registry import Epilogue
from mlxa.oracle import check
from mlxa.runtime.compiled import compile_model
from mlxa.runtime.eager import EagerModel

pytestmark = MARKS  # skipped without llvmlite; the kernels run, not their trials
RNG = np.random.default_rng(11)


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def blockings() -> list[tuple[int, int, int]]:
    from mlxa.kernels.microkernel import blocking

    return sorted({blocking(), (4, 3, 8), (3, 2, 16)})


@pytest.mark.parametrize("panels", [False, True], ids=["by_runs", "by_panels"])
@pytest.mark.parametrize("mr,nv,vl", blockings())
def test_the_microkernel_matches_float64_and_stores_nothing_outside_its_output(
        mr: int, nv: int, vl: int, panels: bool) -> None:
    """Every edge of the blocking (rows around MR, columns around a vector and a run, one or
    two items); with panels, also reductions deep enough that a panel is one run or a few,
    over several panels, a shorter last one and the masked tail."""
    from mlxa.kernels.microkernel import PANEL_FLOATS, compiled, pack

    kernel = compiled(mr, nv, vl, panels=panels)
    run = nv * vl
    shapes = [(rows, cols, 1 + (rows * cols) % 7)
              for rows in sorted({1, mr - 1, mr, mr + 1, 2 * mr + 3})
              for cols in sorted({1, vl - 1, vl, vl + 1, run - 1, run, run + 1,
                                  2 * run + vl + 3})]
    if panels:  # PANEL_FLOATS // C // run runs a panel: 1 at C = 200, 2-3 at C = 100
        assert PANEL_FLOATS // 200 // run == 1 and PANEL_FLOATS // 100 // run in (2, 3)
        shapes += [(mr + 1, 7 * run + 3, depth) for depth in (200, 100)]
    for rows, cols, depth in shapes:
        items = 1 + cols % 2
        w, x, b = f32(rows, depth), f32(items, depth, cols + 5), f32(rows)
        lo, hi = (-0.5, 1.0) if cols % 3 else (-np.inf, np.inf)
        wp, bp = pack(w, b if rows % 2 else None, mr)
        # out rows are cols + 3 floats apart, and a spare row follows the last item
        out = np.full((items * rows + 1, cols + 3), np.nan, np.float32)
        kernel(wp.ctypes.data, x.ctypes.data, bp.ctypes.data, out.ctypes.data, items, rows,
               depth, cols, cols + 5, cols + 3, depth * (cols + 5), rows * (cols + 3), lo, hi)
        bias = b if rows % 2 else np.zeros(rows, np.float32)
        want = np.einsum("oc,ncp->nop", w.astype(np.float64), x[..., :cols])
        want = np.clip(want + bias[:, None], lo, hi).reshape(items * rows, cols)
        np.testing.assert_allclose(out[:-1, :cols], want, rtol=1e-5, atol=1e-5,
                                   err_msg=f"{rows}x{depth}x{cols}, {items} items")
        assert np.isnan(out[:, cols:]).all() and np.isnan(out[-1]).all()


@pytest.mark.parametrize("mr,nv,vl", blockings())
def test_the_offset_table_reads_each_row_where_it_says(mr: int, nv: int, vl: int) -> None:
    """With `table`, row c of the product is x[offsets[c]:][:cols] for any offsets (out of
    order, overlapping, repeated), as a direct conv's taps are."""
    from mlxa.kernels.microkernel import compiled, pack

    kernel = compiled(mr, nv, vl, table=True)
    for rows, depth, cols in ((mr + 1, 9, 2 * nv * vl + 3), (1, 4, vl - 1), (2 * mr, 1, 5)):
        flat = f32(depth * cols + 40)
        offsets = RNG.integers(0, flat.size - cols + 1, depth).astype(np.int64)
        offsets[-1] = offsets[0]  # a row read twice
        w, b = f32(rows, depth), f32(rows)
        wp, bp = pack(w, b, mr)
        out = np.full((rows, cols + 2), np.nan, np.float32)
        kernel(wp.ctypes.data, flat.ctypes.data, bp.ctypes.data, out.ctypes.data, 1, rows,
               depth, cols, offsets.ctypes.data, cols + 2, 0, 0, -np.inf, np.inf)
        x = np.stack([flat[at:at + cols] for at in offsets]).astype(np.float64)
        np.testing.assert_allclose(out[:, :cols], w.astype(np.float64) @ x + b[:, None],
                                   rtol=1e-5, atol=1e-5)
        assert np.isnan(out[:, cols:]).all()


@pytest.mark.parametrize("nv", [1, 2, 3])
def test_the_turned_kernel_matches_float64_and_stores_nothing_outside_its_output(
        nv: int) -> None:
    """Vectors along the rows, columns read through two offset tables: row counts around
    each block, column counts around a tile of 8, columns out of order."""
    from mlxa.kernels.microkernel import PIXELS, compiled_t, pack

    kernel = compiled_t(nv)
    nb = nv * 8
    for rows in sorted({1, 7, nb - 1, nb, nb + 1, 2 * nb + 5}):
        for cols in (1, PIXELS - 1, PIXELS, PIXELS + 1, 3 * PIXELS + 5):
            depth = 1 + (rows + cols) % 6
            flat = f32(200)
            offsets = RNG.integers(0, 100, depth).astype(np.int64)
            columns = RNG.integers(0, 100, -(-cols // PIXELS) * PIXELS).astype(np.int64)
            w, b = f32(rows, depth), f32(rows)
            lo, hi = (-0.5, 1.0) if cols % 2 else (-np.inf, np.inf)
            wp, bp = pack(w, b, nb)
            out = np.full((rows + 1, cols + 3), np.nan, np.float32)  # rows cols + 3 apart
            kernel(wp.ctypes.data, flat.ctypes.data, bp.ctypes.data, out.ctypes.data, rows,
                   depth, cols, offsets.ctypes.data, columns.ctypes.data, cols + 3, lo, hi)
            x = flat[offsets[:, None] + columns[None, :cols]].astype(np.float64)
            want = np.clip(w.astype(np.float64) @ x + b[:, None], lo, hi)
            np.testing.assert_allclose(out[:rows, :cols], want, rtol=1e-5, atol=1e-5,
                                       err_msg=f"{rows}x{depth}x{cols}")
            assert np.isnan(out[:, cols:]).all() and np.isnan(out[rows]).all()


EPILOGUES = {"none": None, "relu": ("relu", {}), "clip": ("clip", {"min": -1.0, "max": 6.0})}
# (N, C, H, W), (O, kh, kw), strides, pads, dilations
CASES = [
    ((1, 16, 7, 7), (24, 1, 1), (1, 1), (0, 0, 0, 0), (1, 1)),
    ((2, 5, 9, 13), (9, 1, 1), (1, 1), (0, 0, 0, 0), (1, 1)),
    ((1, 8, 14, 14), (13, 1, 1), (2, 2), (0, 0, 0, 0), (1, 1)),
    ((2, 4, 11, 9), (10, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    ((1, 6, 15, 16), (7, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1)),
    ((1, 3, 23, 21), (17, 7, 7), (2, 2), (3, 3, 3, 3), (1, 1)),
    ((1, 4, 12, 12), (5, 3, 3), (1, 1), (2, 2, 2, 2), (2, 2)),
    ((2, 3, 10, 11), (6, 2, 3), (1, 2), (0, 1, 1, 0), (1, 1)),
    ((1, 32, 80, 80), (9, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),  # several bands of rows
    ((1, 5, 9, 10), (11, 3, 3), (1, 1), (0, 0, 0, 0), (1, 1)),  # direct, read where it lies
    ((2, 6, 8, 7), (9, 3, 1), (1, 1), (1, 0, 1, 0), (1, 1)),  # direct, no spill columns
    ((3, 7, 5, 21), (12, 3, 3), (1, 1), (0, 2, 1, 0), (1, 1)),  # odd output, uneven pads
    ((1, 3, 10, 12), (8, 2, 5), (1, 1), (0, 2, 1, 1), (1, 2)),  # direct, uneven pads
    ((3, 16, 4, 4), (33, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),  # across items, a part block
    ((2, 3, 2, 2), (5, 1, 1), (1, 1), (1, 1, 1, 1), (1, 1)),  # a border of padding alone
    ((2, 5, 1, 1), (6, 3, 3), (1, 1), (3, 3, 3, 3), (3, 3)),  # one pixel, its centre tap
]


@pytest.mark.parametrize("way", ["by_runs", "by_panels", "along_pixels", "along_channels",
                                 "winograd", "across_items"])
@pytest.mark.parametrize("epilogue", sorted(EPILOGUES))
@pytest.mark.parametrize("shape,kernel,strides,pads,dilations", CASES)
def test_convs_match_the_float64_reference(shape: tuple[int, ...], kernel: tuple[int, ...],
                                           strides: tuple[int, int], pads: tuple[int, ...],
                                           dilations: tuple[int, int], epilogue: str,
                                           way: str) -> None:
    """Each way of the kernel, with and without bias, with no workspace and with one; a second
    call over the same scratch gives the same result. A 1x1 stride-1 unpadded conv goes by
    runs or by panels, any other along the pixels or the channels, a 3x3 stride-1 undilated
    one also by Winograd, one of a small output map also across items; a way a conv has not
    is refused by name."""
    from mlxa.kernels.conv_gemm import ACROSS_ITEMS_PIXELS, product

    n, c, h, wd = shape
    o, kh, kw = kernel
    x, w, b = f32(*shape), f32(o, c, kh, kw), f32(o)
    attrs: dict = {"strides": strides, "pads": pads, "dilations": dilations}
    lo, hi = -np.inf, np.inf
    if EPILOGUES[epilogue] is not None:
        attrs["epilogue"] = EPILOGUES[epilogue]
        lo, hi = (-1.0, 6.0) if epilogue == "clip" else (0.0, np.inf)
    ekh, ekw = dilations[0] * (kh - 1) + 1, dilations[1] * (kw - 1) + 1
    oh = (h + pads[0] + pads[2] - ekh) // strides[0] + 1
    ow = (wd + pads[1] + pads[3] - ekw) // strides[1] + 1
    wdil = np.zeros((o, c, ekh, ekw), np.float32)
    wdil[:, :, ::dilations[0], ::dilations[1]] = w  # the reference takes a dilated kernel
    pointwise = kernel[1:] == (1, 1) and strides == (1, 1) and not any(pads)
    has = ({"by_runs", "by_panels"} if pointwise else {"along_pixels", "along_channels"} | (
        {"winograd"} if kernel[1:] == (3, 3) and strides == dilations == (1, 1) else set()) | (
        {"across_items"} if oh * ow <= ACROSS_ITEMS_PIXELS else set()))
    if way not in has:
        with pytest.raises(ValueError, match=f"no way '{way}'"):
            product([x, w, b], np.zeros((n, o, oh, ow), np.float32), attrs, None, way=way)
        return
    for ins, workspace in (([x, w, b], None), ([x, w], np.empty(1 << 22, np.uint8))):
        out = np.full((n, o, oh, ow), np.nan, np.float32)
        step = product(ins, out, attrs, workspace, way=way)
        step()
        bias = ins[2] if len(ins) == 3 else np.zeros(o, np.float32)
        want = conv_reference(x, wdil, bias, strides, pads, lo, hi)
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=3e-5)
        out[:] = np.nan
        step()
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=3e-5)


def test_edge_classes_hold_each_pixel_once_with_exactly_its_taps_inside_the_input() -> None:
    """Against a count of every (pixel, tap) pair: a group's taps are those that land inside
    the input for each of its pixels, over random windows (strides, dilations, uneven and
    oversized pads, maps smaller than the kernel)."""
    from mlxa.errors import ShapeError
    from mlxa.kernels.conv_gemm import edge_classes
    from mlxa.ops.spatial import window

    rng = np.random.default_rng(5)
    for _ in range(300):
        h, wd, kh, kw = (int(v) for v in rng.integers(1, 9, 4))
        attrs = {"strides": tuple(int(v) for v in rng.integers(1, 4, 2)),
                 "dilations": tuple(int(v) for v in rng.integers(1, 3, 2)),
                 "pads": tuple(int(v) for v in rng.integers(0, 5, 4))}
        try:
            win = window(h, wd, kh, kw, attrs)
        except ShapeError:  # a window larger than the padded input: no output to group
            continue
        seen = np.zeros(win.out_h * win.out_w, int)
        for taps_i, taps_j, pixels in edge_classes(win):
            for p in pixels:
                seen[p] += 1
                r, q = divmod(p, win.out_w)
                inside = [(i, j) for i in range(kh) for j in range(kw)
                          if 0 <= r * attrs["strides"][0] - attrs["pads"][0]
                          + i * attrs["dilations"][0] < h
                          and 0 <= q * attrs["strides"][1] - attrs["pads"][1]
                          + j * attrs["dilations"][1] < wd]
                assert inside == [(i, j) for i in taps_i for j in taps_j], (win, p)
        assert (seen == 1).all(), win


def test_the_scattered_turned_kernel_stores_each_column_where_its_table_says() -> None:
    """With `scattered`: step c takes the weight's row steps[c] of a longer packing, column p
    lands at out_columns[p] + o * out_row; row counts around each block, tiles of repeated
    columns, nothing stored elsewhere."""
    from mlxa.kernels.microkernel import PIXELS, compiled_t, pack

    for nv in (1, 2, 3):
        kernel, nb = compiled_t(nv, scattered=True), nv * 8
        for rows in sorted({1, 7, nb, nb + 1, 2 * nb + 5}):
            for cols in (PIXELS, 5 * PIXELS):
                total, depth = 13, 1 + (rows + cols) % 9
                steps = RNG.choice(total, depth, replace=False).astype(np.int64)
                flat = f32(200)
                offsets = RNG.integers(0, 100, depth).astype(np.int64)
                columns = RNG.integers(0, 100, cols).astype(np.int64)
                out_row = cols + 3
                out_columns = RNG.permutation(out_row)[:cols].astype(np.int64)
                columns[-3:], out_columns[-3:] = columns[-4], out_columns[-4]  # a padded tile
                w, b = f32(rows, total), f32(rows)
                wp, bp = pack(w, b, nb)
                out = np.full(rows * out_row + 5, np.nan, np.float32)
                kernel(wp.ctypes.data, flat.ctypes.data, bp.ctypes.data, out.ctypes.data, rows,
                       depth, cols, offsets.ctypes.data, columns.ctypes.data, out_row, -0.5,
                       1.0, steps.ctypes.data, out_columns.ctypes.data, total * nb)
                x = flat[offsets[:, None] + columns[None, :]].astype(np.float64)
                want = np.clip(w[:, steps].astype(np.float64) @ x + b[:, None], -0.5, 1.0)
                at = out_columns[None, :] + np.arange(rows)[:, None] * out_row
                np.testing.assert_allclose(out[at], want, rtol=1e-5, atol=1e-5)
                elsewhere = np.ones(out.size, bool)
                elsewhere[at.ravel()] = False
                assert np.isnan(out[elsewhere]).all(), (nv, rows, cols)


def test_a_stem_is_tried_against_the_direct_conv_only_where_that_is_selected(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """conv_gemm takes a 3-channel stem; its trial's default is conv_direct where Numba is
    installed and the model's selection has it (registry.in_use), else the op table's conv."""
    from mlxa.kernels import conv_gemm
    from mlxa.kernels.registry import KERNELS, binding, in_use

    kept: list[str] = []
    monkeypatch.setattr(conv_gemm, "where_contiguous",
                        lambda arrays, candidate, name, default, takes=True:
                        kept.append(default()[1]) or candidate())
    g = GraphBuilder("stem")
    x = g.input((1, 3, 20, 20))
    y = g.op("conv", x, g.param(f32(8, 3, 3, 3)), g.param(f32(8)), strides=(2, 2),
             pads=(1, 1, 1, 1))
    graph = g.build(g.op("relu", y))
    numba = KERNELS["conv_direct"].available
    # without Numba, "all" falls to conv_packed's oneDNN conv where torch is installed (its
    # own trial forced: it keeps oneDNN)
    fallback = "onednn_packed" if KERNELS["conv_packed"].available else "numpy"
    for selection, direct in ((("all",), numba), (("llvm",), False)):
        kept.clear()
        model = compile_model(graph, CompileOptions(kernels=selection))
        assert [c.kernel.name for c in model.kernel_plan.choices.values()] == ["conv_gemm"]
        want = "conv_direct" if direct else fallback if selection == ("all",) else "numpy"
        assert kept == [want]
        with binding(selection):
            assert in_use("conv_direct") == direct
    assert in_use("conv_direct") == numba  # outside a model's binding: installed is enough


def test_the_predicate_takes_one_group_convs_and_refuses_the_rest() -> None:
    from mlxa.kernels.conv_gemm import gemm_applies

    relu = Epilogue("relu", {}, (), 1)
    bias = TensorType((4, 1, 1), np.dtype(np.float32))
    assert gemm_applies(site((1, 16, 7, 7), (32, 16, 1, 1), relu))
    assert gemm_applies(site((1, 3, 224, 224), (64, 3, 7, 7), None, strides=(2, 2),
                             pads=(3, 3, 3, 3)))
    refused = [
        site((1, 4, 8, 8), (4, 1, 3, 3), relu, group=4),  # depthwise
        site((1, 4, 8, 8), (4, 2, 3, 3), relu, group=2),
        site((1, 4, 8, 8), (4, 4, 3, 3), relu, params=(False, False, True)),  # weights computed
        site((1, 4, 8, 8), (4, 4, 3, 3), relu, params=(False, True, False)),  # bias computed
        site((1, 4, 8, 8), (4, 4, 3, 3), Epilogue("add", {}, (bias,), 1)),
        site((1, 4, 8, 8), (4, 4, 3, 3), Epilogue("sigmoid", {}, (), 1)),
        site((1, 4, 8, 8), (4, 4, 3, 3), relu, dtype=np.float64),
    ]
    assert not any(gemm_applies(s) for s in refused)


def test_a_strided_view_falls_back_to_the_op_table() -> None:
    from mlxa.kernels.conv_gemm import bind_gemm

    x = np.repeat(f32(1, 4, 6, 6), 2, axis=3)[..., ::2]
    w, b = f32(5, 4, 1, 1), f32(5)
    out = np.empty((1, 5, 6, 6), np.float32)
    step = bind_gemm([x, w, b], [out], {}, None)
    assert type(step).__name__ != "Call"
    step()
    np.testing.assert_allclose(out, conv_reference(x, w, b, (1, 1), (0, 0, 0, 0)),
                               rtol=1e-5, atol=2e-5)


def test_a_compiled_model_chooses_the_kernel_and_passes_the_oracle() -> None:
    g = GraphBuilder("convs")
    x = g.input((2, 8, 12, 12))
    y = g.op("conv", x, g.param(f32(16, 8, 1, 1)), g.param(f32(16)))
    y = g.op("clip", y, min=0.0, max=6.0)
    y = g.op("conv", y, g.param(f32(12, 16, 3, 3) * 0.3), strides=(2, 2), pads=(1, 1, 1, 1))
    y = g.op("relu", y)
    graph = g.build(y)
    m = compile_model(graph, CompileOptions(kernels=("llvm",)))
    assert m.kernel_plan.describe(m.program.graph) == [
        "%0 conv -> conv_gemm (+ clip %1)", "%2 conv -> conv_gemm (+ relu %3)"]
    inputs = [f32(2, 8, 12, 12)]
    want = tuple(np.array(a) for a in EagerModel(graph)(*inputs))
    assert check(graph, inputs, want, m(*inputs)).passed
