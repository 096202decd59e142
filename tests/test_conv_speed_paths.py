"""The conv kernel's fast paths (conv_depthwise, conv_winograd, conv_im2col): each geometry is
checked to take the path it claims, then against ONNX Runtime, against a float64 direct sum,
across band and block sizes, on strided input views, and for the bound-call and packed-weight
caches (same arrays, new values; new weights)."""

from __future__ import annotations

import numpy as np
import pytest

from mlxa.compiler import CompileOptions
from mlxa.ir.builder import GraphBuilder
from mlxa.ops import conv
from mlxa.profile.memory import measure_memory
from mlxa.runtime.compiled import compile_model
from mlxa.runtime.eager import EagerModel

RNG = np.random.default_rng(11)


def f32(*shape: int, scale: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def weights(o: int, cg: int, kh: int, kw: int) -> np.ndarray:
    """Scaled so outputs stay near unit size: absolute tolerances mean the same at any width."""
    return f32(o, cg, kh, kw, scale=1.0 / np.sqrt(cg * kh * kw))


def direct(x: np.ndarray, w: np.ndarray, attrs: dict) -> np.ndarray:
    """The definition, in float64: a sum over kernel offsets of strided window slices."""
    group = attrs.get("group", 1)
    sh, sw = attrs.get("strides", (1, 1))
    dh, dw = attrs.get("dilations", (1, 1))
    top, left, bottom, right = attrs.get("pads", (0, 0, 0, 0))
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)))
    n, _, hp, wp = xp.shape
    o, cg, kh, kw = w.shape
    oh, ow = (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, o, oh, ow))
    og = o // group
    for g in range(group):
        xs = xp[:, g * cg:(g + 1) * cg]
        wg = w[g * og:(g + 1) * og].astype(np.float64)
        for i in range(kh):
            for k in range(kw):
                win = xs[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                         k * dw:k * dw + sw * (ow - 1) + 1:sw]
                out[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", win, wg[:, :, i, k])
    return out


# (x shape, w shape, attrs, the path the plan must pick)
CASES = {
    "pointwise": ((1, 48, 9, 7), (40, 48, 1, 1), {}, "pointwise"),
    "depthwise-wide": ((2, 24, 13, 11), (24, 1, 3, 3), {"group": 24, "pads": (1, 1, 1, 1)},
                       "depthwise"),
    "depthwise-strided": ((1, 16, 15, 12), (16, 1, 3, 3),
                          {"group": 16, "strides": (2, 2), "pads": (1, 0, 1, 1)}, "depthwise"),
    "depthwise-multiplier-dilated": ((1, 8, 12, 12), (24, 1, 3, 5),
                                     {"group": 8, "dilations": (2, 1), "pads": (2, 2, 2, 2)},
                                     "depthwise"),
    "depthwise-unpadded-5x5": ((1, 12, 10, 10), (12, 1, 5, 5), {"group": 12}, "depthwise"),
    "winograd-even": ((1, 64, 28, 28), (64, 64, 3, 3), {"pads": (1, 1, 1, 1)}, "winograd"),
    "winograd-odd-asymmetric": ((2, 96, 15, 17), (88, 96, 3, 3), {"pads": (2, 1, 0, 1)},
                                "winograd"),
    "winograd-unpadded": ((1, 128, 16, 13), (128, 128, 3, 3), {}, "winograd"),
    "im2col-3x3-few-tiles": ((1, 128, 7, 7), (128, 128, 3, 3), {"pads": (1, 1, 1, 1)},
                             "im2col"),
    "im2col-strided": ((1, 32, 14, 14), (48, 32, 3, 3), {"strides": (2, 2), "pads": (1, 1, 1, 1)},
                       "im2col"),
    "im2col-grouped": ((1, 32, 11, 9), (32, 8, 3, 3), {"group": 4, "pads": (0, 1, 1, 0)},
                       "im2col"),
}


@pytest.mark.parametrize("name", CASES)
def test_path_matches_float64_definition(name) -> None:
    xs, ws, attrs, kind = CASES[name]
    assert conv.plan(xs, ws, attrs, 4).kind == kind
    x, w, b = f32(*xs), weights(*ws), f32(ws[0])
    (got,) = conv.CONV.kernel([x, w, b], None, attrs)
    want = direct(x, w, attrs) + b[:, None, None]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("name", CASES)
def test_path_matches_onnxruntime(name) -> None:
    pytest.importorskip("onnxruntime")
    from onnx_models import assert_matches_ort, one_node_model

    xs, ws, attrs, _ = CASES[name]
    onnx_attrs = {k: list(v) if isinstance(v, tuple) else v for k, v in attrs.items()}
    model, feeds = one_node_model("Conv", [f32(*xs)], {1: weights(*ws), 2: f32(ws[0])},
                                  **onnx_attrs)
    assert_matches_ort(model, feeds, rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("name, budget", [("winograd-odd-asymmetric", "WINOGRAD_NBYTES"),
                                          ("depthwise-wide", "CHANNEL_BLOCK_NBYTES"),
                                          ("depthwise-strided", "CHANNEL_BLOCK_NBYTES"),
                                          ("im2col-grouped", "COL_BUFFER_NBYTES")])
def test_smallest_bands_match_one_band(monkeypatch, name, budget) -> None:
    xs, ws, attrs, kind = CASES[name]
    x, w = f32(*xs), weights(*ws)
    (whole,) = conv.CONV.kernel([x, w], None, attrs)
    monkeypatch.setattr(conv, budget, 1)  # one tile row, channel or output row at a time
    assert conv.plan(xs, ws, attrs, 4).kind == kind
    (banded,) = conv.CONV.kernel([x, w], None, attrs)
    # BLAS may sum a narrower product in another order: float32 rounding, not a wrong tile
    np.testing.assert_allclose(banded, whole, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["pointwise", "depthwise-wide", "winograd-unpadded"])
def test_strided_input_view(name) -> None:
    """A transposed view (eager input) cannot be read in place as rows at pitch W: the pointwise
    product goes through im2col, the wide depthwise layout through the direct one."""
    xs, ws, attrs, _ = CASES[name]
    x = np.ascontiguousarray(f32(*xs).transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    assert not x.flags.c_contiguous
    w = weights(*ws)
    (got,) = conv.CONV.kernel([x, w], None, attrs)
    (want,) = conv.CONV.kernel([np.ascontiguousarray(x), w], None, attrs)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_bound_call_reads_current_values() -> None:
    """The same arrays on every call (as the compiled executor passes them) reuse one bound
    call; it must see new input values, not the first call's."""
    xs, ws, attrs, _ = CASES["winograd-even"]
    x, w, out = f32(*xs), weights(*ws), np.empty((1, 64, 28, 28), np.float32)
    workspace = np.empty(_workspace_nbytes(x, w, attrs), np.uint8)
    for _ in range(2):
        x[...] = f32(*xs)
        conv.CONV.kernel([x, w], [out], attrs, workspace)
        np.testing.assert_allclose(out, direct(x, w, attrs), rtol=1e-5, atol=2e-5)


def _workspace_nbytes(x: np.ndarray, w: np.ndarray, attrs: dict) -> int:
    from mlxa.ir.graph import TensorType

    return conv.CONV.workspace_nbytes([TensorType.of(x.shape), TensorType.of(w.shape)], [],
                                      attrs)


def test_new_weights_get_their_own_transform() -> None:
    xs, ws, attrs, _ = CASES["winograd-unpadded"]
    x = f32(*xs)
    for _ in range(3):
        w = weights(*ws)  # a new array each time, possibly at a freed one's address
        (got,) = conv.CONV.kernel([x, w], None, attrs)
        np.testing.assert_allclose(got, direct(x, w, attrs), rtol=1e-5, atol=2e-5)


def test_compiled_fast_paths_allocate_nothing() -> None:
    b = GraphBuilder("paths")
    x = b.input((1, 64, 28, 28))
    y = b.op("conv", x, b.param(weights(64, 64, 3, 3)), b.param(f32(64)), pads=(1, 1, 1, 1))
    y = b.op("conv", y, b.param(weights(64, 1, 3, 3)), group=64, strides=(2, 2),
             pads=(1, 1, 1, 1))
    y = b.op("conv", y, b.param(weights(64, 1, 3, 3)), group=64, pads=(1, 1, 1, 1))
    graph = b.build(b.op("conv", y, b.param(weights(32, 64, 1, 1))))
    assert [conv.plan(n.inputs[0].shape, n.inputs[1].shape, n.attrs, 4).kind
            for n in graph.nodes] == ["winograd", "depthwise", "depthwise", "pointwise"]
    inputs = (f32(1, 64, 28, 28),)
    compiled = compile_model(graph, CompileOptions(kernels=()))  # the op table's own paths
    np.testing.assert_allclose(compiled(*inputs)[0], EagerModel(graph)(*inputs)[0],
                               rtol=1e-6, atol=1e-6)
    stats = measure_memory(lambda: compiled(*inputs))
    assert stats.allocations == 0
    # as tests/test_ops_contract.py: numpy's ufunc buffers (8192 elements an operand) at most
    assert stats.peak_traced_nbytes < 2 * np.getbufsize() * 4 + (16 << 10), stats


def test_bound_calls_live_with_their_model() -> None:
    """Each model binds its own calls (the op table's bind hook, no process-wide cache), so a
    compiled model that is gone frees its arena, however many there were."""
    import gc
    import weakref

    b = GraphBuilder("arenas")
    x = b.input((1, 8, 12, 12))
    y = b.op("conv", x, b.param(weights(8, 8, 3, 3)), pads=(1, 1, 1, 1))
    graph = b.build(b.op("max_pool", y, kernel_shape=(2, 2), strides=(2, 2)))
    inputs = (f32(1, 8, 12, 12),)
    arenas = []
    for _ in range(6):
        compiled = compile_model(graph)
        compiled(*inputs)
        arenas.append(weakref.ref(compiled.arena.base))
        del compiled
    gc.collect()
    assert not any(ref() is not None for ref in arenas)


POISON = np.frombuffer(np.array([0x7FA00000], np.uint32).tobytes(), np.uint8)  # a signalling NaN


@pytest.mark.parametrize("name", ["small_cnn", "mobilenet_v2", "resnet18"])
def test_no_kernel_reads_memory_it_did_not_write(monkeypatch, name: str) -> None:
    """Every fresh buffer (arena, scratch, eager results) is filled with signalling NaNs: an
    arithmetic op that reads an element nobody wrote raises 'invalid value'. (The wide
    depthwise layout once added the bias to the unwritten tail of its product.)"""
    import warnings

    from mlxa.models.zoo import build
    from mlxa.ops import memory

    real = memory.empty

    def poisoned(shape, dtype):
        out = real(shape, dtype)
        raw = out.reshape(-1).view(np.uint8)
        raw[:] = np.resize(POISON, raw.size)
        return out

    monkeypatch.setattr(memory, "empty", poisoned)
    sizes = {"mobilenet_v2": {"image": 64, "width_mult": 0.5},
             "resnet18": {"image": 64, "width": 16}}.get(name, {})
    graph = build(name, batch=1, **sizes)
    x = np.random.default_rng(0).standard_normal(graph.inputs[0].shape).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        want = EagerModel(graph)(x)[0]
        got = compile_model(graph)(x)[0]
    assert np.isfinite(want).all() and np.isfinite(got).all()
