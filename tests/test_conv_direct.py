"""The direct conv kernel for few input channels (kernels/conv_direct.py): its loops against a
float64 reference on strides 1 and 2, pads 0, 1 and asymmetric, 3x3, 7x7 and 1x3 kernels, odd
and tiny images, batch 2, bias or none, each epilogue; the predicate's refusals; and a compiled
model that chooses it and passes the oracle."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from conv_sites import site

from mlxa.compiler import CompileOptions
from mlxa.ir.builder import GraphBuilder
from mlxa.ir.graph import Graph, TensorType
from mlxa.kernels import library  # noqa: F401
from mlxa.kernels.reference import conv_reference
from mlxa.kernels.registry import Epilogue, Site
from mlxa.oracle import check
from mlxa.runtime.compiled import compile_model
from mlxa.runtime.eager import EagerModel

HAS_NUMBA = importlib.util.find_spec("numba") is not None
needs_numba = pytest.mark.skipif(not HAS_NUMBA,
                                 reason="numba is not installed (pip install 'mlxa[kernels]')")
RNG = np.random.default_rng(7)
# every kernel but the llvm ones: with llvmlite, conv_gemm takes stems too and keeps this kernel
# only where its trial says (tests/test_conv_gemm.py)
ALL = CompileOptions(kernels=("numba", "prepack", "epilogue"))


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.fixture(autouse=True)
def kernels_always_win(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bind-time trials keep the kernel, so these tests run the kernel itself."""
    from mlxa.kernels import plan
    from mlxa.kernels.trial import Bound

    monkeypatch.setattr(plan, "keep_faster", lambda c, name, d: Bound(c, name))


EPILOGUES = {"none": None, "relu": ("relu", {}), "clip": ("clip", {"min": 0.0, "max": 6.0})}
# (N, C, H, W), (O, kh, kw), stride, pads (top, left, bottom, right): narrow outputs (one "wide"
# run per block of rows, copied out), wide ones (row by row, 64 columns and more), output channel
# counts odd and even (channels in pairs where the taps are few), 1x1 images.
CASES = [
    ((1, 1, 28, 28), (32, 3, 3), 1, (1, 1, 1, 1)),
    ((1, 2, 9, 11), (3, 3, 3), 1, (0, 2, 2, 0)),
    ((2, 1, 7, 6), (5, 5, 5), 1, (2, 4, 2, 0)),
    ((2, 3, 5, 9), (5, 3, 3), 1, (1, 1, 1, 1)),
    ((2, 2, 5, 9), (4, 3, 3), 2, (1, 1, 1, 1)),
    ((1, 3, 7, 7), (3, 3, 3), 1, (0, 0, 0, 0)),
    ((1, 3, 9, 8), (4, 3, 3), 2, (0, 0, 0, 0)),
    ((1, 2, 9, 8), (3, 3, 3), 1, (2, 0, 1, 2)),
    ((2, 1, 11, 10), (7, 3, 3), 2, (0, 1, 2, 0)),
    ((1, 1, 1, 1), (2, 3, 3), 1, (1, 1, 1, 1)),
    ((1, 3, 1, 1), (3, 3, 3), 2, (1, 1, 1, 1)),
    ((1, 1, 8, 8), (16, 3, 3), 1, (1, 1, 1, 1)),
    ((1, 3, 19, 21), (6, 7, 7), 2, (3, 3, 3, 3)),
    ((2, 1, 12, 13), (3, 7, 7), 1, (3, 2, 1, 3)),
    ((1, 3, 6, 11), (4, 1, 3), 1, (0, 1, 0, 1)),
    ((1, 2, 6, 11), (5, 1, 3), 2, (0, 0, 0, 2)),
    ((1, 3, 66, 130), (3, 3, 3), 1, (1, 1, 1, 1)),
    ((1, 2, 40, 131), (3, 3, 3), 2, (1, 1, 1, 1)),
    ((1, 1, 20, 70), (2, 5, 5), 1, (2, 2, 2, 2)),
    ((1, 3, 224, 224), (8, 3, 3), 2, (1, 1, 1, 1)),
]


@needs_numba
@pytest.mark.parametrize("epilogue", sorted(EPILOGUES))
@pytest.mark.parametrize("shape,kernel,stride,pads", CASES)
def test_direct_loops_match_the_float64_reference(shape: tuple[int, ...],
                                                  kernel: tuple[int, int, int], stride: int,
                                                  pads: tuple[int, ...], epilogue: str) -> None:
    """With and without bias, with no workspace, one too small, and one large enough; a second
    call over the same scratch gives the same result."""
    from mlxa.kernels.conv_direct import bind_direct

    n, c, h, wd = shape
    o, kh, kw = kernel
    x, w, b = f32(*shape) * 3, f32(o, c, kh, kw), f32(o)
    oh = (h + pads[0] + pads[2] - kh) // stride + 1
    ow = (wd + pads[1] + pads[3] - kw) // stride + 1
    attrs: dict = {"strides": (stride, stride), "pads": pads}
    lo, hi = -np.inf, np.inf
    if EPILOGUES[epilogue] is not None:
        attrs["epilogue"] = EPILOGUES[epilogue]
        lo, hi = (0.0, 6.0) if epilogue == "clip" else (0.0, np.inf)
    for ins, workspace in (([x, w, b], None), ([x, w], np.empty(64, np.uint8)),
                           ([x, w, b], np.empty(1 << 22, np.uint8))):
        out = np.full((n, o, oh, ow), np.nan, np.float32)
        step = bind_direct(ins, [out], attrs, workspace)
        step()
        bias = ins[2] if len(ins) == 3 else np.zeros(o, np.float32)
        want = conv_reference(x, w, bias, (stride, stride), pads, lo, hi)
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=2e-5)
        out[:] = np.nan
        step()
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=2e-5)


@needs_numba
def test_strided_input_and_output_views() -> None:
    """A non-contiguous input is read in place; a non-contiguous output is written through a
    private buffer."""
    from mlxa.kernels.conv_direct import bind_direct

    x = np.repeat(f32(2, 3, 10, 12), 2, axis=3)[..., ::2]
    w, b = f32(4, 3, 3, 3), f32(4)
    big = np.full((2, 4, 5, 12), np.nan, np.float32)
    out = big[..., :6]
    attrs = {"strides": (2, 2), "pads": (1, 1, 1, 1), "epilogue": ("relu", {})}
    bind_direct([x, w, b], [out], attrs, None)()
    want = conv_reference(x, w, b, (2, 2), (1, 1, 1, 1), 0.0, np.inf)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=2e-5)
    assert np.isnan(big[..., 6:]).all()


def test_the_predicate_takes_stems_and_refuses_the_rest() -> None:
    from mlxa.kernels.conv_direct import direct_applies

    relu = Epilogue("relu", {}, (), 1)
    clip = Epilogue("clip", {"min": 0.0, "max": 6.0}, (), 1)
    bias = TensorType((4, 1, 1), np.dtype(np.float32))
    assert direct_applies(site((1, 1, 28, 28), (32, 1, 3, 3), relu, pads=(1, 1, 1, 1)))
    assert direct_applies(site((1, 3, 224, 224), (32, 3, 3, 3), clip, strides=(2, 2),
                               pads=(1, 1, 1, 1)))
    assert direct_applies(site((2, 1, 9, 5), (4, 1, 5, 5), None, pads=(0, 2, 4, 1)))
    refused = [
        site((1, 3, 8, 8), (3, 1, 3, 3), relu, group=3),  # depthwise
        site((1, 2, 8, 8), (4, 1, 3, 3), relu, group=2),  # grouped
        site((1, 3, 8, 8), (4, 3, 3, 3), relu, dilations=(2, 2)),
        site((1, 4, 8, 8), (4, 4, 3, 3), relu),  # too many input channels
        site((1, 16, 8, 8), (4, 16, 1, 1), relu),  # a pointwise conv: BLAS's
        site((1, 3, 30, 30), (8, 3, 7, 7), relu),  # too many taps
        site((1, 1, 8, 8), (4, 1, 3, 3), relu, strides=(3, 3)),
        site((1, 1, 8, 8), (4, 1, 3, 3), relu, strides=(1, 2)),
        site((1, 1, 8, 8), (4, 1, 3, 3), relu, pads=(3, 0, 0, 0)),  # pad as tall as the kernel
        site((1, 1, 8, 8), (4, 1, 3, 3), relu, params=(False, False, True)),  # weights computed
        site((1, 1, 8, 8), (4, 1, 3, 3), Epilogue("add", {}, (bias,), 1)),
        site((1, 1, 8, 8), (4, 1, 3, 3), Epilogue("sigmoid", {}, (), 1)),
    ]
    assert not any(direct_applies(s) for s in refused)
    ins = (TensorType((1, 1, 8, 8), np.dtype(np.float64)),
           TensorType((4, 1, 3, 3), np.dtype(np.float64)))
    assert not direct_applies(Site("conv", ins, (), {}, (False, True)))


def chosen(graph: Graph) -> list[str]:
    m = compile_model(graph, ALL)
    return [c.kernel.name for _, c in sorted(m.kernel_plan.choices.items())]


def passes(graph: Graph, inputs: list[np.ndarray]) -> bool:
    want = tuple(np.array(a) for a in EagerModel(graph)(*inputs))
    return check(graph, inputs, want, compile_model(graph, ALL)(*inputs)).passed


@needs_numba
def test_a_compiled_stem_chooses_the_kernel_and_passes_the_oracle() -> None:
    g = GraphBuilder("stem")
    x = g.input((2, 3, 32, 30))
    y = g.op("conv", x, g.param(f32(8, 3, 3, 3)), g.param(f32(8)), strides=(2, 2),
             pads=(1, 1, 1, 1))
    y = g.op("clip", y, min=0.0, max=6.0)
    z = g.op("conv", y, g.param(f32(4, 8, 3, 3)), pads=(1, 1, 1, 1))  # 8 channels: not taken
    graph = g.build(z)
    m = compile_model(graph, ALL)
    assert m.kernel_plan.describe(m.program.graph)[0] == "%0 conv -> conv_direct (+ clip %1)"
    assert "conv_direct" not in chosen(graph)[1:]
    assert passes(graph, [f32(2, 3, 32, 30) * 3])


@needs_numba
def test_a_conv_without_epilogue_binds_through_its_trial() -> None:
    g = GraphBuilder("plain")
    x = g.input((1, 1, 28, 28))
    graph = g.build(g.op("conv", x, g.param(f32(16, 1, 3, 3)), g.param(f32(16)),
                         pads=(1, 1, 1, 1)))
    assert chosen(graph) == ["conv_direct"]
    assert passes(graph, [f32(1, 1, 28, 28)])


@needs_numba
def test_a_pass_whose_weights_overflow_the_registers_runs_one_loop_per_input_channel() -> None:
    """3 channels x 3x3: 27 taps, 54 weights for two output channels: each input channel's
    taps are one loop (18 weights), adding to what the previous loop stored; one output
    channel alone keeps all 27 taps in one loop. A 1-channel 3x3 pass: 2 channels, one loop."""
    from mlxa.kernels.conv_direct_loops import channels_per_pass, source
    assert channels_per_pass(3, 3, 3) == 2 and channels_per_pass(1, 3, 3) == 2
    code = source(3, 3, 3, 2)
    pair, single = code.split("for o in range(oc - oc % OB, oc):")
    assert pair.count("for k in range(ow):") == 3 and single.count("for k in range(ow):") == 1
    assert "min(max(" not in pair.split("for k in range(ow):")[1]  # only the last loop clamps
    one = source(1, 3, 3, 1).split("for o in range(oc - oc % OB, oc):")[0]
    assert one.count("for k in range(ow):") == 1
