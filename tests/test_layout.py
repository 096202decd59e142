"""The layout pass and ops: converted graphs compute what the original does (the oracle, eager
and compiled), relayouts appear only at region borders and are counted, the layout kernels match
the nchw ones, and the study's prediction rule and renderers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlxa.compiler import CompileOptions
from mlxa.ir.builder import GraphBuilder
from mlxa.models.zoo import build
from mlxa.ops import get_op
from mlxa.oracle import check
from mlxa.passes.fold_batch_norm import fold_batch_norm
from mlxa.passes.layout import convert_layout, relayouts, simd_floats
from mlxa.runtime.compiled import compile_model
from mlxa.runtime.eager import EagerModel

SMALL = {"resnet18": {"image": 32, "width": 8}, "resnet50": {"image": 32, "width": 8},
         "mobilenet_v2": {"image": 32, "width_mult": 0.5}, "small_cnn": {"image": 12},
         "digits_cnn": {}}
LAYOUTS = [("nhwc", 0), ("nchwc", 4), ("nchwc", 16)]


def _input(graph):
    return np.random.default_rng(0).standard_normal(graph.inputs[0].shape).astype(np.float32)


@pytest.mark.parametrize("name", list(SMALL))
@pytest.mark.parametrize("layout,block", LAYOUTS)
def test_converted_graph_passes_the_oracle_eager_and_compiled(name, layout, block) -> None:
    graph = build(name, batch=2, **SMALL[name])
    x = _input(graph)
    eager = EagerModel(graph)(x)
    converted = convert_layout(graph, layout, block)  # batch norms stay: batch_norm_cl runs
    assert check(graph, [x], eager, EagerModel(converted)(x)).passed
    compiled = compile_model(graph, CompileOptions(layout=layout, layout_block=block,
                                                   verify=True))
    assert check(graph, [x], eager, [a.copy() for a in compiled(x)]).passed


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "small_cnn"])
def test_whole_networks_convert_with_one_relayout(name) -> None:
    """Convs, pools, norms, relus, clips and residual adds all convert; the input's relayout is
    the only one (global_avg_pool_cl writes nchw; small_cnn's flatten reads through one back)."""
    graph = fold_batch_norm(build(name, batch=1, **SMALL[name]))
    converted = convert_layout(graph, "nhwc")
    ops = [n.op for n in converted.nodes]
    assert "conv" not in ops and "max_pool" not in ops
    assert relayouts(converted) == (2 if name == "small_cnn" else 1)


def _conv(b, x, c_out, seed):
    w = np.random.default_rng(seed).standard_normal((c_out, x.shape[1], 3, 3)).astype(np.float32)
    return b.op("conv", x, b.param(w), pads=(1, 1, 1, 1))


def test_relayouts_only_at_borders_and_one_per_value() -> None:
    b = GraphBuilder()
    x = b.input((1, 3, 6, 6))
    y = b.op("relu", _conv(b, x, 8, 0))
    t = b.op("transpose", y, perm=(0, 1, 3, 2))  # no layout version: a border
    z = _conv(b, t, 8, 1)
    s = b.op("reduce_sum", y, axes=(1,), keepdims=1)  # y read twice in nchw: one relayout
    f = b.op("flatten", y, axis=1)
    graph = b.build(z, s, f)
    converted = convert_layout(graph, "nchwc", 4)
    # in: x, t; back: y (shared by transpose, reduce_sum, flatten), z (an output)
    assert relayouts(converted) == 4
    xs = _input(graph)
    assert check(graph, [xs], EagerModel(graph)(xs), EagerModel(converted)(xs)).passed


def test_nchw_is_the_identity_and_grouped_convs_stay() -> None:
    graph = build("small_cnn", **SMALL["small_cnn"])
    assert convert_layout(graph, "nchw") is graph
    b = GraphBuilder()
    x = b.input((1, 4, 5, 5))
    w = np.ones((4, 2, 3, 3), np.float32)
    g = b.build(b.op("conv", x, b.param(w), group=2))
    assert [n.op for n in convert_layout(g, "nhwc").nodes] == ["conv"]


@pytest.mark.parametrize("channels,block", [(5, 4), (8, 8), (3, 16)])
def test_relayout_round_trip_pads_with_zeros(channels, block) -> None:
    x = np.random.default_rng(1).standard_normal((2, channels, 3, 4)).astype(np.float32)
    relayout = get_op("relayout").kernel
    (blocked,) = relayout([x], None, {"src": "nchw", "dst": "nchwc", "block": block})
    assert blocked.shape == (2, -(-channels // block), 3, 4, block)
    flat = blocked.transpose(0, 1, 4, 2, 3).reshape(2, -1, 3, 4)
    assert np.all(flat[:, channels:] == 0)
    (back,) = relayout([blocked], None, {"src": "nchwc", "dst": "nchw", "block": block,
                                         "channels": channels})
    np.testing.assert_array_equal(back, x)


def test_simd_width_from_the_cpu_flags() -> None:
    assert simd_floats(frozenset({"avx2", "avx512f"})) == 16
    assert simd_floats(frozenset({"avx2"})) == 8
    assert simd_floats(frozenset()) == 4


def test_prediction_rule() -> None:
    from mlxa.studies.layout import predict

    s1 = {"strides": (1, 1), "pads": (1, 1, 1, 1), "group": 1}
    assert predict((1, 64, 56, 56), (64, 64, 3, 3), s1, 16) == "nchw"  # winograd
    assert predict((1, 64, 56, 56), (64, 64, 3, 3), {**s1, "strides": (2, 2)}, 16) == "nhwc"
    assert predict((1, 3, 224, 224), (64, 3, 7, 7), {**s1, "strides": (2, 2)}, 16) == "nchw"
    dw = {**s1, "group": 576}
    assert predict((1, 576, 7, 7), (576, 1, 3, 3), dw, 16) == "nhwc"
    assert predict((1, 32, 112, 112), (32, 1, 3, 3), {**s1, "group": 32}, 16) == "nchw"


def test_layout_study_runs_and_renders(tmp_path) -> None:
    from mlxa.report.layout_plot import layout_png
    from mlxa.report.layout_text import load_json, render_json, render_text
    from mlxa.studies.layout import Config, run_study

    result = run_study(Config(("resnet18",), image=32, conv_budget_s=0.001, backends=("mlxa",)))
    (model,) = result.models
    assert len(model.convs) == 20
    assert all(set(r.mlxa_ms) == {"nchw", "nhwc", "nchwc", "nhwc_relayout", "nchwc_relayout"}
               for r in model.convs)
    assert [t.relayouts for t in model.transposes] == [0, 1, 1]
    assert 0.0 <= model.agreement_strict <= model.agreement <= 1.0
    assert load_json(json.loads(render_json(result))) == result
    assert "prediction agrees" in render_text(result)
    assert layout_png(result)[:4] == b"\x89PNG"


def test_cli_refuses_bad_input_in_one_line(capsys) -> None:
    from mlxa.cli.main import main

    assert main(["layout", "--models", "vgg"]) == 2
    assert main(["layout", "--block", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and err.startswith("mlxa: error:")


@pytest.mark.parametrize("layout,block", [("nhwc", 0), ("nchwc", 8)])
def test_converted_graph_exports_to_onnxruntime_and_lowers_to_xla(layout, block) -> None:
    graph = convert_layout(build("mobilenet_v2", **SMALL["mobilenet_v2"]), layout, block)
    x = _input(graph)
    (want,) = EagerModel(graph)(x)
    pytest.importorskip("onnxruntime")
    from mlxa.compare.ort import ort_runner

    runner = ort_runner(graph, (x,), threads=1)
    assert runner is not None
    np.testing.assert_allclose(runner()[0], want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    pytest.importorskip("jax")
    from mlxa.compare.xla import check_lowering

    assert check_lowering(graph, [x])["passed"]


def test_before_and_after_as_printed_ir() -> None:
    from mlxa.ir.printer import format_graph

    b = GraphBuilder("tiny")
    x = b.input((1, 3, 8, 8))
    w, bias = b.param(np.ones((8, 3, 3, 3), np.float32)), b.param(np.zeros(8, np.float32))
    y = b.op("relu", b.op("conv", x, w, bias, pads=(1, 1, 1, 1)))
    y = b.op("max_pool", y, kernel_shape=(2, 2), strides=(2, 2))
    graph = b.build(b.op("flatten", b.op("global_avg_pool", y), axis=1))
    text = format_graph(convert_layout(graph, "nchwc", 4))
    assert [line.split("#")[0].rstrip() for line in text.splitlines()] == [
        "graph tiny(%0: f32[1,3,8,8]) {",
        "  %1: f32[3,3,4,8] = param",
        "  %2: f32[8] = param",
        "  %3: f32[1,1,8,8,4] = relayout[block=4,dst=nchwc,src=nchw] %0",
        "  %4: f32[1,2,8,8,4] = conv_cl[block=4,group=1,layout=nchwc,pads=(1,1,1,1)] %3, %1, %2",
        "  %5: f32[1,2,8,8,4] = relu %4",
        "  %6: f32[1,2,4,4,4] = pool_cl[block=4,kernel_shape=(2,2),layout=nchwc,mode=max,"
        "strides=(2,2)] %5",
        "  %7: f32[1,8,1,1] = global_avg_pool_cl[block=4,channels=8,layout=nchwc] %6",
        "  %8: f32[1,8] = flatten[axis=1] %7",
        "  return %8",
        "}"]
