"""The ops added for real models (activations, math, indexing, normalisation, window ops) against
ONNX Runtime: one-node ONNX models on random inputs and edge shapes, run by ORT and by our eager
and compiled executors through the importer."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx_models import assert_matches_ort, one_node_model

RNG = np.random.default_rng(17)


def f32(*shape: int, scale: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def i64(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


def case(op: str, inputs: list, consts: dict | None = None, opset: int = 18,
         n_outputs: int = 1, id: str = "", **attrs):
    return pytest.param(op, inputs, consts or {}, opset, n_outputs, attrs,
                        id=f"{op}-{id}" if id else op)


SPECIAL = np.array([0.0, -0.0, 1e-30, -1e-30, 50.0, -50.0, 100.0, -100.0], np.float32)

ACTIVATIONS = [
    case("Elu", [f32(2, 3, 5)]),
    case("Elu", [f32(4, 7)], alpha=0.3, id="alpha"),
    case("Elu", [SPECIAL], id="extremes"),
    case("Selu", [f32(2, 3, 5)]),
    case("Selu", [f32(4, 7)], alpha=1.5, gamma=0.9, id="attrs"),
    case("Softplus", [f32(2, 3, 5, scale=5.0)]),
    case("Softplus", [SPECIAL], id="extremes"),
    case("Sign", [np.array([-2.0, -0.0, 0.0, 3.0, 1e-30], np.float32)]),
    case("Sign", [f32(1, 1, 9)], id="unit-dims"),
    case("Shrink", [f32(3, 8)]),
    case("Shrink", [f32(3, 8)], lambd=0.2, bias=0.1, id="bias"),
    case("Shrink", [f32(1)], lambd=0.0, id="zero-lambd"),
    case("Cos", [f32(2, 3, 5, scale=10.0)]),
    case("Sin", [f32(2, 3, 5, scale=10.0)]),
    case("Sin", [f32(1)], id="one-element"),
    case("IsNaN", [np.array([0.0, np.nan, np.inf, -np.inf, -1.0], np.float32)]),
    case("IsNaN", [f32(3, 4)], id="none"),
]

ALL = ACTIVATIONS


@pytest.mark.parametrize("op, inputs, consts, opset, n_outputs, attrs", ALL)
def test_op_matches_onnxruntime(op, inputs, consts, opset, n_outputs, attrs):
    model, feeds = one_node_model(op, inputs, consts, n_outputs=n_outputs, opset=opset,
                                  **attrs)
    assert_matches_ort(model, feeds, rtol=1e-5, atol=2e-5)
