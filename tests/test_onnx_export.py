"""The ONNX exporter (IR -> ONNX, run by ONNX Runtime), the round trip IR -> to_onnx -> load_onnx,
and the batch_norm folding pass."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx_models import run_ort

from mlxa.compiler import CompileOptions
from mlxa.errors import UserInputError
from mlxa.frontends.onnx_export import to_onnx
from mlxa.frontends.onnx_import import load_onnx
from mlxa.ir.builder import GraphBuilder
from mlxa.ir.graph import Graph
from mlxa.passes.fold_batch_norm import fold_batch_norm
from mlxa.passes.fuse_elementwise import fuse_elementwise
from mlxa.runtime.compiled import compile_model
from mlxa.runtime.eager import EagerModel

RNG = np.random.default_rng(13)


def f32(*shape: int, scale: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def positive(*shape: int) -> np.ndarray:
    return RNG.uniform(0.5, 1.5, shape).astype(np.float32)


def bn_params(b: GraphBuilder, c: int) -> list:
    return [b.param(positive(c)), b.param(f32(c, scale=0.1)), b.param(f32(c, scale=0.1)),
            b.param(positive(c))]


def cnn() -> Graph:
    b = GraphBuilder("cnn")
    x = b.input((2, 3, 16, 16))
    h = b.op("conv", x, b.param(f32(8, 3, 3, 3, scale=0.3)), pads=(1, 1, 1, 1), strides=(2, 2))
    h = b.op("clip", b.op("batch_norm", h, *bn_params(b, 8), epsilon=1e-3), min=0.0, max=6.0)
    h = b.op("conv", h, b.param(f32(16, 1, 3, 3)), b.param(f32(16)), group=8,
             pads=(1, 1, 1, 1))
    h = b.op("hardswish", b.op("batch_norm", h, *bn_params(b, 16)))
    h = b.op("max_pool", h, kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1))
    h = b.op("avg_pool", b.op("pad", h, pads=(0, 0, 1, 1, 0, 0, 1, 1), mode="reflect"),
             kernel_shape=(2, 2), count_include_pad=0)
    h = b.op("flatten", b.op("global_avg_pool", b.op("leaky_relu", h, alpha=0.1)), axis=1)
    h = b.op("gemm", h, b.param(f32(16, 5)), b.param(f32(5)), alpha=0.5)
    return b.build(b.op("log_softmax", h, axis=-1))


def transformer() -> Graph:
    b = GraphBuilder("transformer")
    x = b.input((2, 6, 8))
    ids = b.input((2, 6), np.int64)
    h = b.op("add", x, b.op("gather", b.param(f32(10, 8)), ids, axis=0))
    h = b.op("layer_norm", h, b.param(positive(8)), b.param(f32(8)), epsilon=1e-5)
    qkv = b.op("matmul", h, b.param(f32(8, 24, scale=0.3)))
    q, k, v = b.op_multi("split", qkv, axis=2, sizes=(8, 8, 8))
    heads = [b.op("transpose", b.op("reshape", t, shape=(2, 6, 2, 4)), perm=(0, 2, 1, 3))
             for t in (q, k, v)]
    scores = b.op("mul", b.op("matmul", heads[0], b.op("transpose", heads[1], perm=(0, 1, 3, 2))),
                  b.param(np.array([0.5], np.float32)))
    att = b.op("matmul", b.op("softmax", scores, axis=-1), heads[2])
    h2 = b.op("reshape", b.op("transpose", att, perm=(0, 2, 1, 3)), shape=(2, 6, 8))
    h = b.op("add", h, h2)
    mlp = b.op("gelu", b.op("matmul", h, b.param(f32(8, 16))), approximate="tanh")
    mlp = b.op("gelu", b.op("sub", mlp, b.param(f32(16, scale=0.1))))
    h = b.op("add", h, b.op("matmul", mlp, b.param(f32(16, 8))))
    first = b.op("squeeze", b.op("slice", h, starts=(0,), ends=(1,), axes=(1,)), axes=(1,))
    pooled = b.op("reduce_mean", b.op("silu", h), axes=(1,), keepdims=0)
    both = b.op("concat", first, pooled, axis=-1)
    mask = b.op("greater", both, b.param(np.zeros(16, np.float32)))
    out = b.op("where", mask, both, b.op("neg", b.op("sqrt", b.op("abs", both))))
    return b.build(b.op("unsqueeze", out, axes=(0,)), b.op("argmax", both, axis=1))


def assert_close(got: np.ndarray, want: np.ndarray) -> None:
    """Within float32 rounding of differently ordered arithmetic, at the outputs' scale."""
    scale = float(np.abs(want).max(initial=1.0))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * scale)


def inputs_for(graph: Graph) -> list[np.ndarray]:
    return [f32(*v.shape) if v.dtype.kind == "f" else RNG.integers(0, 10, v.shape)
            for v in graph.inputs]


@pytest.mark.parametrize("build", [cnn, transformer])
@pytest.mark.parametrize("opset", [17, 18, 19, 20])
def test_exported_model_runs_in_onnxruntime(build, opset) -> None:
    graph = build()
    model = to_onnx(graph, opset=opset)
    onnx.checker.check_model(model, full_check=True)
    inputs = inputs_for(graph)
    want = EagerModel(graph)(*inputs)
    got = run_ort(model, {f"input_{i}": a for i, a in enumerate(inputs)})
    for w, g in zip(want, got):
        assert_close(g, w)


@pytest.mark.parametrize("build", [cnn, transformer])
def test_round_trip_gives_the_same_outputs(build) -> None:
    graph = build()
    back = load_onnx(to_onnx(graph))
    ops = [n.op for n in graph.nodes]
    if "silu" in ops:  # exported as sigmoid and mul: ONNX has no SiLU
        i = ops.index("silu")
        ops[i:i + 1] = ["sigmoid", "mul"]
    assert [n.op for n in back.nodes] == ops
    inputs = inputs_for(graph)
    for w, g in zip(EagerModel(graph)(*inputs), EagerModel(back)(*inputs)):
        np.testing.assert_array_equal(g, w)


def test_fused_nodes_export_as_their_steps() -> None:
    graph = transformer()
    fused = fuse_elementwise(graph)
    assert any(n.op == "fused" for n in fused.nodes)
    model = to_onnx(fused)
    assert not any(n.op_type == "fused" for n in model.graph.node)
    inputs = inputs_for(graph)
    got = run_ort(model, {f"input_{i}": a for i, a in enumerate(inputs)})
    for w, g in zip(EagerModel(graph)(*inputs), got):
        assert_close(g, w)


def test_unknown_opset_is_refused() -> None:
    with pytest.raises(UserInputError, match="opsets 17 to 20"):
        to_onnx(cnn(), opset=12)


# -- fold_batch_norm ---------------------------------------------------------------------------

def test_fold_batch_norm_removes_the_batch_norms() -> None:
    graph = cnn()
    folded = fold_batch_norm(graph)
    assert sum(n.op == "batch_norm" for n in graph.nodes) == 2
    assert not any(n.op == "batch_norm" for n in folded.nodes)
    assert len(folded.nodes) == len(graph.nodes) - 2
    assert folded.outputs == graph.outputs
    assert len(folded.params) == len(graph.params) - 8 + 1  # 2 bn x 4 stats; a bias appears
    (x,) = inputs_for(graph)
    np.testing.assert_allclose(EagerModel(folded)(x)[0], EagerModel(graph)(x)[0],
                               rtol=1e-5, atol=1e-5)
    compiled = compile_model(graph, CompileOptions(fold_bn=True))
    assert not any(n.op == "batch_norm" for n in compiled.program.graph.nodes)
    np.testing.assert_allclose(compiled(x)[0], EagerModel(graph)(x)[0], rtol=1e-5, atol=1e-5)


def test_fold_batch_norm_leaves_shared_or_output_convs() -> None:
    b = GraphBuilder()
    x = b.input((1, 2, 5, 5))
    c1 = b.op("conv", x, b.param(f32(2, 2, 1, 1)))
    shared = b.op("add", b.op("batch_norm", c1, *bn_params(b, 2)), c1)
    c2 = b.op("conv", shared, b.param(f32(2, 2, 1, 1)))
    graph = b.build(b.op("batch_norm", c2, *bn_params(b, 2)), c2)
    assert fold_batch_norm(graph) is graph
