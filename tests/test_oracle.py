"""The correctness oracle: the float64 reference runs every op and zoo model; the rule passes
what optimization changes by design (summation order, batch-norm folding) where the old
element-wise rule fails, and fails the ways real bugs change outputs (a wrong kernel, a wrong
in-place decision, garbage from an overlapping buffer, one element off, NaN moved, a wrong shape
or integer)."""

from __future__ import annotations

import json
from types import MappingProxyType

import numpy as np
import pytest
from executors import compiled_outputs, eager_outputs

from mlxa.ir.builder import GraphBuilder
from mlxa.ir.graph import Graph, Node
from mlxa.models.zoo import ZOO, build
from mlxa.oracle import (
    C,
    K,
    Verdict,
    bound,
    check,
    judge,
    reference_graph,
    reference_outputs,
    relative_error,
)
from mlxa.verify import compare_outputs

EPS32 = float(np.finfo(np.float32).eps)
# The ImageNet networks at 96x96 for speed: the same kernels as at 224 (measured there: the
# same range of errors).
SMALLER = {"mobilenet_v2": {"image": 96}, "resnet18": {"image": 96}, "resnet50": {"image": 96}}






def random_inputs(graph: Graph, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(v.shape).astype(v.dtype) if v.dtype.kind == "f"
            else rng.integers(0, 10, v.shape).astype(v.dtype) for v in graph.inputs]


# -- the reference -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_runs_in_float64_and_passes(name: str) -> None:
    """Every zoo model's kernels run in float64; eager and compiled float32 sit within a few
    eps of the output's scale from it (measured: eager 1.5 to 6.2 eps, compiled/eager 0.89 to
    1.63), and the oracle passes the compiled executor."""
    graph = build(name, 1, 0, **SMALLER.get(name, {}))
    ref_graph = reference_graph(graph)
    for v in [*ref_graph.inputs, *ref_graph.params, *(w for n in ref_graph.nodes
                                                      for w in n.outputs)]:
        assert v.dtype.kind != "f" or v.dtype == np.float64, v.type
    assert all(a.dtype.kind != "f" or a.dtype == np.float64 for a in ref_graph.params.values())
    x = random_inputs(graph)
    eager = eager_outputs(graph, x)
    ref = reference_outputs(graph, x)
    assert [r.dtype for r in ref] == [np.dtype(np.float64)] * len(eager)
    assert all(relative_error(e, r) < 16 * EPS32 for e, r in zip(eager, ref))
    verdict = check(graph, x, eager, compiled_outputs(graph, x))
    assert verdict.passed, verdict


def test_every_op_runs_in_float64() -> None:
    """The one-node ONNX models of the op tests, run in float64: each result within 1e-5 of
    the output's scale of the float32 one (integer and bool results equal)."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx_models import one_node_model
    from test_ops_onnxruntime import ALL

    from mlxa.frontends.onnx_import import load_onnx

    for case in ALL:
        op, inputs, consts, opset, n_outputs, attrs = case.values
        model, feeds = one_node_model(op, inputs, consts, n_outputs=n_outputs, opset=opset,
                                      **attrs)
        graph = load_onnx(model, {k: v.shape for k, v in feeds.items()})
        x = [feeds[vi.name] for vi in model.graph.input if vi.name in feeds]
        for got, ref in zip(eager_outputs(graph, x), reference_outputs(graph, x)):
            if got.dtype.kind == "f":
                assert ref.dtype == np.float64 and relative_error(got, ref) < 1e-5, case.id
            else:
                np.testing.assert_array_equal(got, ref, err_msg=case.id)


def test_dtype_attributes_follow_to_float64() -> None:
    b = GraphBuilder()
    x = b.input((3,))
    half = b.op("cast", x, to="float16")
    back = b.op("cast", half, to=np.dtype(np.float32))
    ints = b.op("cast", back, to="int64")
    graph = reference_graph(b.build(back, ints))
    assert [str(n.attrs["to"]) for n in graph.nodes] == ["float64", "float64", "int64"]
    assert [str(v.type) for v in graph.outputs] == ["f64[3]", "i64[3]"]
    got = reference_outputs(b.build(back, ints), [np.array([1.4, -2.6, 1e-5], np.float32)])
    np.testing.assert_array_equal(got[0], np.array([1.4, -2.6, 1e-5], np.float32))
    np.testing.assert_array_equal(got[1], [1, -2, 0])


def test_random_graphs_pass() -> None:
    hypothesis = pytest.importorskip("hypothesis")
    from random_dags import random_dags

    @hypothesis.settings(max_examples=25, deadline=None)
    @hypothesis.given(random_dags())
    def run(graph: Graph) -> None:
        x = random_inputs(graph, 1)
        verdict = check(graph, x, eager_outputs(graph, x), compiled_outputs(graph, x))
        assert verdict.passed, verdict

    run()


# -- what optimization changes by design passes --------------------------------------------------

def logits_graph(scale: float) -> tuple[Graph, np.ndarray, np.ndarray]:
    """x[8,512] @ w[512,100] + b with logits of magnitude `scale`, some near zero."""
    rng = np.random.default_rng(5)
    w = (rng.standard_normal((512, 100)) * scale / 512 ** 0.5 / 4).astype(np.float32)
    bias = (rng.standard_normal(100) * scale / 40).astype(np.float32)
    b = GraphBuilder("logits")
    x = b.input((8, 512))
    graph = b.build(b.op("add", b.op("matmul", x, b.param(w)), b.param(bias)))
    return graph, w, bias


def test_reordered_summation_passes_where_the_element_wise_rule_fails() -> None:
    """A matrix product summed in two halves, as a blocked kernel does, on logits of magnitude
    1e4: the rounding differs by ~1e-3 absolute on logits near zero, so the old rule fails,
    but the error against float64 is the eager one's."""
    graph, w, bias = logits_graph(1e4)
    x = np.random.default_rng(6).standard_normal((8, 512)).astype(np.float32)
    eager = eager_outputs(graph, [x])
    blocked = (x[:, :256] @ w[:256] + x[:, 256:] @ w[256:]) + bias
    assert not compare_outputs(eager, [blocked])["passed"]
    verdict = check(graph, [x], eager, [blocked])
    assert verdict.passed, verdict
    (out,) = verdict.outputs
    assert out.scale > 1e3 and out.optimized_error < 16 * EPS32


def test_batch_norm_folding_passes() -> None:
    """small_cnn with its batch norms folded (the compiled executor's default) and not."""
    graph = build("small_cnn", 2, 0)
    x = random_inputs(graph)
    assert check(graph, x, eager_outputs(graph, x), compiled_outputs(graph, x)).passed


# -- real bugs fail ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cnn() -> tuple[Graph, list[np.ndarray], tuple[np.ndarray, ...], tuple[np.ndarray, ...],
                   tuple[np.ndarray, ...]]:
    """small_cnn: graph, inputs, float64 reference, eager and compiled outputs."""
    graph = build("small_cnn", 2, 0)
    x = random_inputs(graph)
    return (graph, x, reference_outputs(graph, x), eager_outputs(graph, x),
            compiled_outputs(graph, x))


def with_node_op(graph: Graph, op: str, nth: int, new_op: str, **attrs: object) -> Graph:
    """The graph with the nth node of kind `op` running `new_op` instead."""
    index = [i for i, n in enumerate(graph.nodes) if n.op == op][nth]
    old = graph.nodes[index]
    node = Node(new_op, old.inputs, old.outputs, MappingProxyType(attrs), old.name)
    return graph.replace(nodes=graph.nodes[:index] + (node,) + graph.nodes[index + 1:])


@pytest.mark.parametrize("new_op, attrs", [("clip", {}), ("leaky_relu", {"alpha": 0.01})],
                         ids=["identity", "leaky-relu"])
def test_a_wrong_kernel_fails(cnn, new_op: str, attrs: dict) -> None:
    """The second relu compiled as identity (clip without bounds), or as a leaky relu."""
    graph, x, ref, eager, _ = cnn
    wrong = compiled_outputs(with_node_op(graph, "relu", 1, new_op, **attrs), x)
    verdict = judge(ref, eager, wrong)
    assert not verdict.passed
    assert "bound" in verdict.outputs[0].reason


def with_wrong_inplace(graph: Graph) -> Graph:
    """A wrong in-place decision: the first value read by two nodes taken over by the first
    reader's output (same type), so the second reader sees that output instead."""
    for v, users in graph.consumers().items():
        if len(users) > 1 and users[0].outputs[0].type == v.type:
            last = users[-1]
            ins = tuple(users[0].outputs[0] if w is v else w for w in last.inputs)
            node = Node(last.op, ins, last.outputs, last.attrs, last.name)
            return graph.replace(nodes=tuple(node if n is last else n for n in graph.nodes))
    raise AssertionError("no value with two readers of its type")


def test_a_wrong_inplace_decision_fails() -> None:
    """resnet18's first residual add reading its block's first conv output, not the input."""
    graph = build("resnet18", 1, 0, image=32)
    x = random_inputs(graph)
    wrong = compiled_outputs(with_wrong_inplace(graph), x)
    assert not check(graph, x, eager_outputs(graph, x), wrong).passed


@pytest.mark.parametrize("count", [4, 10])
def test_garbage_from_an_overlapping_buffer_fails(cnn, count: int) -> None:
    """The output's last elements overwritten by another buffer's bytes (here the input's)."""
    graph, x, ref, eager, opt = cnn
    garbage = opt[0].copy()
    garbage.reshape(-1)[-count:] = x[0].reshape(-1)[:count]
    assert not judge(ref, eager, [garbage]).passed


@pytest.mark.parametrize("where", ["nearest-zero", "largest"])
def test_one_element_off_fails(cnn, where: str) -> None:
    """One element moved by 1e-4 of the output's scale (~800 float32 eps)."""
    graph, x, ref, eager, opt = cnn
    off = opt[0].copy()
    flat = off.reshape(-1)
    index = int(np.argmin(np.abs(flat)) if where == "nearest-zero" else np.argmax(np.abs(flat)))
    flat[index] += np.float32(1e-4 * np.abs(ref[0]).max())
    verdict = judge(ref, eager, [off])
    assert not verdict.passed and verdict.outputs[0].optimized_error > verdict.outputs[0].bound


def test_nan_or_infinity_moved_fails(cnn) -> None:
    graph, x, ref, eager, opt = cnn
    for bad in (np.nan, np.inf):
        moved = opt[0].copy()
        moved[0, 0] = bad
        verdict = judge(ref, eager, [moved])
        assert not verdict.passed and verdict.outputs[0].nonfinite_mismatches == 1


def test_wrong_shape_or_missing_output_fails(cnn) -> None:
    graph, x, ref, eager, opt = cnn
    assert not judge(ref, eager, [opt[0][:1]]).passed
    assert not judge(ref, eager, []).passed
    assert not judge(ref, eager, [opt[0], opt[0]]).passed


# -- the rule itself -----------------------------------------------------------------------------

def test_the_bound_is_k_eager_error_plus_c_eps() -> None:
    ref = np.array([1000.0, -3.0, 0.25])
    eager = ref.astype(np.float32) + np.array([0.0, 0.0, 1e-3], np.float32)  # 1e-6 of 1000
    eager_error = relative_error(eager, ref)
    assert eager_error == pytest.approx(1e-6, rel=1e-3)
    limit = bound(eager_error, np.float32)
    assert limit == K * eager_error + C * EPS32
    for step, passed in [(0.99, True), (1.01, False)]:
        opt = ref + np.array([0.0, step * limit * 1000.0, 0.0])
        assert judge([ref], [eager], [opt.astype(np.float32)]).passed == passed


def test_nonfinite_values_must_match_eager_not_the_reference() -> None:
    """float32 overflows where float64 does not: eager and optimized agree, so it passes."""
    b = GraphBuilder()
    x = b.input((3,))
    graph = b.build(b.op("exp", x))
    inputs = [np.array([100.0, 1.0, np.nan], np.float32)]
    with np.errstate(over="ignore"):
        eager = eager_outputs(graph, inputs)
    assert np.isinf(eager[0][0]) and np.isfinite(reference_outputs(graph, inputs)[0][0])
    assert check(graph, inputs, eager, [eager[0].copy()]).passed
    finite = eager[0].copy()
    finite[0] = 3e38
    assert not check(graph, inputs, eager, [finite]).passed


def test_integer_outputs_must_equal_eager() -> None:
    ref = (np.array([0, 2, 1]),)
    eager = (np.array([0, 2, 2]),)  # differs from the reference: not judged
    assert judge(ref, eager, [eager[0].copy()]).passed
    assert not judge(ref, eager, [np.array([0, 1, 2])]).passed


def test_verdict_round_trips_through_json(cnn) -> None:
    graph, x, ref, eager, opt = cnn
    for verdict in (judge(ref, eager, opt, ["logits"]), judge(ref, eager, [opt[0][:1]])):
        text = json.dumps(verdict.to_json(), allow_nan=False)
        assert Verdict.from_json(json.loads(text)) == verdict
    assert verdict.outputs[0].name == "output 0" and "optimized is" in verdict.outputs[0].reason
