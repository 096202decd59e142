"""The oracle's rule for quantized programs (oracle.judge_quantized): mlxa's INT8 zoo models pass
it on the inputs the studies use; a quantization broken in one place (a wrong scale, a wrong zero
point, a requantization off by a factor) fails it; the float rule would fail them all."""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType

import numpy as np
import pytest

from mlxa.compiler import CompileOptions, compile_program
from mlxa.ir.graph import Graph, Node, TensorType, Value
from mlxa.models.zoo import build
from mlxa.oracle import (
    SQNR_FLOOR_DB,
    check,
    check_quantized,
    judge_quantized,
    reference_outputs,
    sqnr_db,
)
from mlxa.passes.quantize import QuantizeSpec
from mlxa.runtime.compiled import CompiledModel
from mlxa.runtime.eager import EagerModel


def _inputs(name: str, graph: Graph, seed: int) -> tuple[list, list]:
    """(calibration, evaluation) as `mlxa quantize` draws them: digits for digits_cnn, seeded
    standard normal inputs for the random-weight models."""
    if name == "digits_cnn":
        pytest.importorskip("sklearn")
        from mlxa.models.digits_cnn import digits_split

        x_train, _, x_test, _ = digits_split()
        return [(x[None],) for x in x_train[:64]], [(x[None],) for x in x_test[:16]]
    shape = graph.inputs[0].shape

    def draw(s: int) -> tuple[np.ndarray]:
        return (np.random.default_rng(s).standard_normal(shape).astype(np.float32),)

    return [draw(1000 + 10 * seed + i) for i in range(4)], [draw(10 * seed + i) for i in range(2)]


def _quantized(name: str, seed: int = 0, activations: str = "u8") -> tuple[Graph, Graph, list]:
    graph = build(name, 1, seed)
    calibration, evaluation = _inputs(name, graph, seed)
    spec = QuantizeSpec(tuple(calibration), "minmax", activations)
    return graph, compile_program(graph, CompileOptions(quantize=spec)).graph, evaluation


def _run(graph: Graph, evaluation: list) -> list:
    return [tuple(np.array(a) for a in EagerModel(graph)(*x)) for x in evaluation]


@pytest.mark.parametrize("name,seed,activations", [
    ("digits_cnn", 0, "u8"), ("digits_cnn", 0, "s8"), ("mlp", 0, "u8"), ("mlp", 1, "s8"),
    ("small_cnn", 0, "u8"), ("small_cnn", 1, "s8")])
def test_quantized_zoo_models_pass(name: str, seed: int, activations: str) -> None:
    graph, int8, evaluation = _quantized(name, seed, activations)
    compiled = CompiledModel(compile_program(int8))
    outputs = [tuple(np.array(a) for a in compiled(*x)) for x in evaluation]
    verdict = check_quantized(graph, evaluation, outputs)
    assert verdict.passed, verdict
    assert verdict.outputs[0].sqnr_db >= SQNR_FLOOR_DB + 9  # the margin the floor was set with


def test_the_float_rule_would_fail_a_quantized_model() -> None:
    graph, int8, evaluation = _quantized("mlp")
    x = evaluation[0]
    eager = tuple(np.array(a) for a in EagerModel(graph)(*x))
    assert not check(graph, x, eager, _run(int8, [x])[0]).passed


def _replaced_input(graph: Graph, node_name: str, op: str, k: int,
                    change: Callable[[np.ndarray], np.ndarray], last: bool = False) -> Graph:
    """The graph with input k of one node (the first, or last, with this name and op) replaced by
    a fresh constant: change(the old one). The producer and the other readers keep the old."""
    matches = [i for i, n in enumerate(graph.nodes) if n.op == op and n.name == node_name]
    i = matches[-1] if last else matches[0]
    node = graph.nodes[i]
    old = graph.params[node.inputs[k]]
    array = np.asarray(change(old.copy()), old.dtype)
    v = Value(TensorType(array.shape, array.dtype))
    inputs = (*node.inputs[:k], v, *node.inputs[k + 1:])
    nodes = list(graph.nodes)
    nodes[i] = Node(node.op, inputs, node.outputs, node.attrs, node.name)
    return graph.replace(params=MappingProxyType({**graph.params, v: array}),
                         nodes=tuple(nodes))


BROKEN = {
    # the output dequantized on twice its scale
    "wrong scale": lambda g: _replaced_input(g, "", "dequantize_linear", 1, lambda s: 2 * s,
                                             last=True),
    # conv2 reads its input 16 steps off the zero point conv1 wrote it with
    "wrong zero point": lambda g: _replaced_input(g, "conv2", "qlinear_conv", 2,
                                                  lambda z: z + 16),
    # conv2's requantization multiplier (x_scale * w_scale / y_scale) doubled
    "requantization off by 2x": lambda g: _replaced_input(g, "conv2", "qlinear_conv", 4,
                                                          lambda s: 2 * s),
}


@pytest.mark.parametrize("bug", sorted(BROKEN))
def test_a_broken_quantization_fails(bug: str) -> None:
    graph, int8, evaluation = _quantized("small_cnn")
    assert check_quantized(graph, evaluation, _run(int8, evaluation)).passed
    verdict = check_quantized(graph, evaluation, _run(BROKEN[bug](int8), evaluation))
    assert not verdict.passed
    assert "SQNR" in verdict.outputs[0].reason


def test_shapes_and_non_finite_values_fail() -> None:
    ref = np.linspace(-1, 1, 10)
    assert judge_quantized([ref], [ref + 1e-4]).passed
    assert not judge_quantized([ref], [ref[:5]]).passed
    assert not judge_quantized([ref], []).passed
    nan = ref.copy()
    nan[3] = np.nan
    assert "not finite" in judge_quantized([ref], [nan]).outputs[0].reason


def test_sqnr_is_capped_and_json_safe() -> None:
    ref = np.ones(4)
    assert sqnr_db(ref, ref) == 300.0
    assert sqnr_db(np.zeros(4), ref) == -300.0
    assert abs(sqnr_db(ref, 2 * ref)) < 1e-12  # noise as loud as the signal: 0 dB
    verdict = judge_quantized(reference_outputs(build("mlp"), (np.zeros((1, 1024), np.float32),)),
                              [])
    assert verdict.to_json()["outputs"][0]["relative_error"] is None
