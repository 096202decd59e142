"""The depthwise conv's vector loops (kernels/depthwise_ir.py) against the float64 reference:
maps from 1x1 to wider than a run of columns (every band: the masked edges, one or two vectors
wide, runs of several vectors and single ones, a whole row of two vectors), strides 1 and 2,
symmetric, asymmetric and no pads (a left one wider than a vector too), 3x3, 5x5, 1x3, 1x19 and
1x21 kernels, batch 2, each epilogue, two calls in a row (the zero row stays zero); channel
multipliers, a conv of one input channel among them, and the defaults they run against; the
predicate's refusals; a compiled model that chooses it and passes the oracle."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from conv_sites import site
from llvm_kernels import MARKS

from mlxa.compiler import CompileOptions
from mlxa.ir.builder import GraphBuilder
from mlxa.kernels import library  # noqa: F401
from mlxa.kernels.reference import conv_reference
from mlxa.kernels.registry import Epilogue
from mlxa.oracle import check
from mlxa.runtime.compiled import compile_model
from mlxa.runtime.eager import EagerModel

pytestmark = MARKS  # skipped without llvmlite; the kernels run, not their trials
HAVE = {m: importlib.util.find_spec(m) is not None for m in ("numba", "torch")}
RNG = np.random.default_rng(5)
EPILOGUES = {"none": None, "relu": ("relu", {}), "clip": ("clip", {"min": -1.0, "max": 6.0})}
# (N, C, H, W), (kh, kw), stride, pads (top, left, bottom, right)
CASES = [
    ((1, 3, 7, 7), (3, 3), 1, (1, 1, 1, 1)),
    ((2, 5, 14, 14), (3, 3), 2, (1, 1, 1, 1)),
    ((1, 4, 1, 1), (3, 3), 1, (1, 1, 1, 1)),
    ((1, 2, 9, 70), (3, 3), 1, (1, 1, 1, 1)),  # rows longer than a run of columns
    ((1, 3, 33, 67), (3, 3), 2, (1, 1, 1, 1)),
    ((2, 3, 10, 12), (5, 5), 1, (2, 2, 2, 2)),
    ((1, 4, 11, 13), (5, 5), 2, (2, 1, 0, 3)),
    ((1, 2, 8, 9), (3, 3), 1, (0, 0, 0, 0)),
    ((1, 3, 6, 17), (1, 3), 2, (0, 1, 0, 1)),
    ((1, 2, 6, 25), (5, 5), 1, (2, 2, 2, 2)),  # the right padding's band two vectors wide
    ((1, 2, 9, 150), (3, 3), 2, (1, 1, 1, 1)),  # strided runs of several vectors
    ((1, 3, 14, 14), (3, 3), 1, (1, 1, 1, 1)),  # two vectors wide: one masked band, 7 rows
    ((1, 2, 3, 40), (1, 21), 1, (0, 20, 0, 20)),  # a left padding wider than a vector
    ((1, 2, 4, 50), (1, 19), 2, (0, 17, 0, 9)),
]
# channel multipliers: (N, C, H, W), M, (kh, kw), stride, pads; M output channels per input
# channel, and a conv of one input channel (group 1, a digit classifier's first)
MULTIPLIED = [
    ((1, 1, 8, 8), 16, (3, 3), 1, (1, 1, 1, 1)),
    ((2, 1, 28, 28), 6, (5, 5), 1, (0, 0, 0, 0)),
    ((1, 3, 14, 14), 2, (3, 3), 2, (1, 1, 1, 1)),
    ((2, 4, 9, 70), 3, (3, 3), 1, (1, 1, 1, 1)),
]


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("epilogue", sorted(EPILOGUES))
@pytest.mark.parametrize("shape,kernel,stride,pads", CASES)
def test_the_loops_match_the_float64_reference(shape: tuple[int, ...], kernel: tuple[int, int],
                                               stride: int, pads: tuple[int, ...],
                                               epilogue: str) -> None:
    from mlxa.kernels.depthwise_ir import bind_depthwise

    n, c, h, wd = shape
    kh, kw = kernel
    x, w, b = f32(*shape) * 2, f32(c, 1, kh, kw), f32(c)
    attrs: dict = {"strides": (stride, stride), "pads": pads, "group": c}
    lo, hi = -np.inf, np.inf
    if EPILOGUES[epilogue] is not None:
        attrs["epilogue"] = EPILOGUES[epilogue]
        lo, hi = (-1.0, 6.0) if epilogue == "clip" else (0.0, np.inf)
    oh = (h + pads[0] + pads[2] - kh) // stride + 1
    ow = (wd + pads[1] + pads[3] - kw) // stride + 1
    for ins in ([x, w, b], [x, w]):
        out = np.full((n, c, oh, ow), np.nan, np.float32)
        step = bind_depthwise(ins, [out], attrs, None)
        bias = ins[2] if len(ins) == 3 else np.zeros(c, np.float32)
        want = conv_reference(x, w, bias, (stride, stride), pads, lo, hi)
        for _ in range(2):
            out[:] = np.nan
            step()
            np.testing.assert_allclose(out, want, rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("shape,mult,kernel,stride,pads", MULTIPLIED)
def test_a_channel_multiplier_reads_each_input_channel_for_its_outputs(
        shape: tuple[int, ...], mult: int, kernel: tuple[int, int], stride: int,
        pads: tuple[int, ...]) -> None:
    from mlxa.kernels.depthwise_ir import bind_depthwise

    n, c, h, wd = shape
    (kh, kw), o = kernel, c * mult
    x, w, b = f32(*shape), f32(o, 1, kh, kw), f32(o)
    attrs: dict = {"strides": (stride, stride), "pads": pads, "group": c,
                   "epilogue": ("relu", {})}
    oh = (h + pads[0] + pads[2] - kh) // stride + 1
    ow = (wd + pads[1] + pads[3] - kw) // stride + 1
    out = np.full((n, o, oh, ow), np.nan, np.float32)
    bind_depthwise([x, w, b], [out], attrs, None)()
    want = conv_reference(x, w, b, (stride, stride), pads, 0.0, np.inf)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=2e-5)


def test_the_predicate_takes_depthwise_convs_and_refuses_the_rest() -> None:
    from mlxa.kernels.depthwise_ir import depthwise_applies

    clip = Epilogue("clip", {"min": 0.0, "max": 6.0}, (), 1)
    assert depthwise_applies(site((1, 96, 56, 56), (96, 1, 3, 3), clip, group=96,
                                  strides=(2, 2), pads=(1, 1, 1, 1)))
    assert depthwise_applies(site((1, 4, 8, 8), (8, 1, 3, 3), clip, group=4))  # multiplier 2
    assert depthwise_applies(site((1, 1, 8, 8), (16, 1, 3, 3), clip, pads=(1, 1, 1, 1)))
    refused = [
        site((1, 4, 8, 8), (4, 4, 3, 3), clip),  # dense
        site((1, 4, 8, 8), (6, 1, 3, 3), clip, group=4),  # 6 outputs from 4 groups
        site((1, 2, 8, 8), (4, 1, 3, 3), clip),  # two input channels in one group
        site((1, 4, 8, 8), (4, 1, 3, 3), clip, group=4, strides=(3, 3)),
        site((1, 4, 8, 8), (4, 1, 3, 3), clip, group=4, strides=(1, 2)),
        site((1, 4, 8, 8), (4, 1, 3, 3), clip, group=4, dilations=(2, 2)),
        site((1, 4, 8, 8), (4, 1, 3, 3), clip, group=4, pads=(3, 0, 0, 0)),
        site((1, 4, 16, 16), (4, 1, 9, 9), clip, group=4),  # 81 taps
        site((1, 4, 8, 8), (4, 1, 3, 3), clip, group=4, params=(False, False, True)),
        site((1, 4, 8, 8), (4, 1, 3, 3), Epilogue("sigmoid", {}, (), 1), group=4),
    ]
    assert not any(depthwise_applies(s) for s in refused)


def test_a_compiled_model_chooses_the_kernel_and_passes_the_oracle() -> None:
    g = GraphBuilder("dw")
    x = g.input((1, 6, 14, 14))
    y = g.op("conv", x, g.param(f32(6, 1, 3, 3)), g.param(f32(6)), group=6, strides=(2, 2),
             pads=(1, 1, 1, 1))
    graph = g.build(g.op("clip", y, min=0.0, max=6.0))
    m = compile_model(graph, CompileOptions(kernels=("llvm",)))
    assert m.kernel_plan.describe(m.program.graph) == ["%0 conv -> depthwise_vector (+ clip %1)"]
    inputs = [f32(1, 6, 14, 14)]
    want = tuple(np.array(a) for a in EagerModel(graph)(*inputs))
    assert check(graph, inputs, want, m(*inputs)).passed


def test_a_multiplier_falls_back_to_the_dense_defaults_or_the_table_not_to_depthwise_act(
        ) -> None:
    """depthwise_act's loops take multiplier 1 only: the default a multiplied conv's trial runs
    against is, for a conv of one input channel, what binds a dense conv without the
    microkernel (the direct conv for a stem, oneDNN's for a 7x7 one), else the op table's
    conv; each computes the same conv."""
    from mlxa.kernels.depthwise_ir import _default
    from mlxa.kernels.registry import binding
    from mlxa.kernels.trial import forced

    cases = [((1, 1, 8, 8), 16, 1, 3, 1, ("llvm",), "numpy"),
             ((1, 2, 8, 8), 3, 2, 3, 1, ("all",), "numpy"),  # group 2: no dense default
             ((1, 1, 8, 8), 16, 1, 3, 1, ("all",), "conv_direct"),
             ((1, 1, 20, 20), 8, 1, 7, 2, ("all",), "onednn_packed")]  # a 7x7/2 stem
    for shape, mult, group, k, stride, selection, name in cases:
        if name == "conv_direct" and not HAVE["numba"] or name == "onednn_packed" and not (
                HAVE["torch"]):
            continue
        x = f32(*shape)
        o = shape[1] * mult
        w, b = f32(o, 1, k, k), f32(o)
        pads = (k // 2,) * 4
        attrs: dict = {"strides": (stride, stride), "pads": pads, "group": group}
        size = (shape[2] + 2 * (k // 2) - k) // stride + 1
        out = np.full((1, o, size, size), np.nan, np.float32)
        with binding(selection), forced():
            step, ran = _default([x, w, b], [out], attrs, np.empty(1 << 20, np.uint8))
        assert ran == name
        step()
        want = conv_reference(x, w, b, (stride, stride), pads)
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)


def test_a_one_channel_conv_runs_conv_gemm_against_these_loops_and_passes_the_oracle() -> None:
    """A conv of one input channel (group 1) is conv_gemm's node; its default, what its trial
    runs against, is depthwise_vector's (a forced trial keeps each candidate: the loops)."""
    from mlxa.kernels import conv_gemm
    from mlxa.kernels.registry import binding
    from mlxa.kernels.trial import forced

    x, w, b = f32(1, 1, 8, 8), f32(16, 1, 3, 3), f32(16)
    attrs: dict = {"strides": (1, 1), "pads": (1, 1, 1, 1), "group": 1, "epilogue": ("relu", {})}
    out = np.full((1, 16, 8, 8), np.nan, np.float32)
    with binding(("llvm",)), forced():
        step, name = conv_gemm._default([x, w, b], [out], attrs, None)
    assert name == "depthwise_vector"
    step()
    np.testing.assert_allclose(out, conv_reference(x, w, b, (1, 1), (1, 1, 1, 1), 0.0),
                               rtol=1e-5, atol=2e-5)
    with binding(("conv_gemm",)):  # without the loops in the selection: not them
        assert conv_gemm._default([x, w, b], [out], attrs, None)[1] != "depthwise_vector"

    g = GraphBuilder("digits")
    xv = g.input((1, 1, 8, 8))
    y = g.op("conv", xv, g.param(w), g.param(b), pads=(1, 1, 1, 1))
    graph = g.build(g.op("relu", y))
    m = compile_model(graph, CompileOptions(kernels=("llvm",)))
    assert m.kernel_plan.describe(m.program.graph) == ["%0 conv -> conv_gemm (+ relu %1)"]
    inputs = [f32(1, 1, 8, 8)]
    want = tuple(np.array(a) for a in EagerModel(graph)(*inputs))
    assert check(graph, inputs, want, m(*inputs)).passed
