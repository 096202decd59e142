"""The core ops against independent formulas, and the op table's completeness and contract."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlxa.ir.graph import TensorType
from mlxa.ops import OPS, get_op, memory

RNG = np.random.default_rng(0)
X = (RNG.standard_normal((5, 37)) * 3).astype(np.float32)
X[0, :5] = [0.0, -0.0, 1e-8, 30.0, -30.0]

_erf = np.vectorize(math.erf)


def scalar_formula(f):
    return np.vectorize(lambda v: f(float(v)))(X.astype(np.float64))


CASES = [
    ("relu", {}, lambda v: v if v > 0 else 0.0, 0),
    ("gelu", {"approximate": "tanh"}, lambda v: 0.5 * v * (1 + math.tanh(
        math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3))), 2e-6),
    ("gelu", {"approximate": "none"}, lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))), 4e-6),
    ("erf", {}, math.erf, 3e-7),
    ("sigmoid", {}, lambda v: 1 / (1 + math.exp(-v)), 2e-7),
    ("silu", {}, lambda v: v / (1 + math.exp(-v)), 4e-6),
    ("tanh", {}, math.tanh, 2e-7),
]


def test_every_op_has_every_rule() -> None:
    for name, op in OPS.items():
        assert op.name == name
        assert callable(op.shape) and callable(op.flops) and callable(op.kernel), name
        assert op.doc, f"{name} has no doc"
        if op.elementwise:
            assert op.ew is not None and op.inplace, name


@pytest.mark.parametrize("name,attrs,formula,atol", CASES,
                         ids=[f"{c[0]}-{c[1].get('approximate', '')}" for c in CASES])
def test_unary_against_formula(name, attrs, formula, atol) -> None:
    (got,) = get_op(name).kernel([X], None, attrs)
    want = scalar_formula(formula)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=atol)


@pytest.mark.parametrize("name,ufunc", [("add", np.add), ("sub", np.subtract),
                                        ("mul", np.multiply), ("div", np.divide)])
@pytest.mark.parametrize("shapes", [((4, 5), (5,)), ((4, 1), (1, 5)), ((3, 4, 5), (4, 1)),
                                    ((), (3,)), ((2, 3), (2, 3))])
def test_binary_broadcasting(name, ufunc, shapes) -> None:
    a = RNG.standard_normal(shapes[0]).astype(np.float32)
    b = (RNG.standard_normal(shapes[1]) + 3).astype(np.float32)
    (got,) = get_op(name).kernel([a, b], None, {})
    want = ufunc(a.astype(np.float64), b.astype(np.float64))
    assert got.shape == np.broadcast_shapes(a.shape, b.shape)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def naive_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros((a.shape[0], b.shape[1]))
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            out[i, j] = sum(float(a[i, k]) * float(b[k, j]) for k in range(a.shape[1]))
    return out


def test_matmul_against_loops() -> None:
    a = RNG.standard_normal((3, 7)).astype(np.float32)
    b = RNG.standard_normal((7, 4)).astype(np.float32)
    (got,) = get_op("matmul").kernel([a, b], None, {})
    np.testing.assert_allclose(got, naive_matmul(a, b), rtol=1e-5, atol=1e-5)


def test_batched_matmul_shape_and_values() -> None:
    a = RNG.standard_normal((2, 1, 3, 5)).astype(np.float32)
    b = RNG.standard_normal((4, 5, 6)).astype(np.float32)
    (t,) = get_op("matmul").shape([TensorType.of(a.shape), TensorType.of(b.shape)], {})
    assert t.shape == (2, 4, 3, 6)
    (got,) = get_op("matmul").kernel([a, b], None, {})
    np.testing.assert_allclose(got[1, 2], naive_matmul(a[1, 0], b[2]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("trans_a,trans_b", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_gemm(trans_a, trans_b) -> None:
    a = RNG.standard_normal((6, 3) if trans_a else (3, 6)).astype(np.float32)
    b = RNG.standard_normal((4, 6) if trans_b else (6, 4)).astype(np.float32)
    c = RNG.standard_normal((4,)).astype(np.float32)
    attrs = {"transA": trans_a, "transB": trans_b, "alpha": 0.5, "beta": 2.0}
    (got,) = get_op("gemm").kernel([a, b, c], None, attrs)
    want = 0.5 * naive_matmul(a.T if trans_a else a, b.T if trans_b else b) + 2.0 * c
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_flops_follow_two_per_multiply_add() -> None:
    ins = [TensorType.of((32, 1024)), TensorType.of((1024, 4096))]
    outs = get_op("matmul").shape(ins, {})
    cost = get_op("matmul").cost(ins, outs, {})
    assert cost.flops == 2 * 32 * 1024 * 4096
    assert cost.read_nbytes == 4 * (32 * 1024 + 1024 * 4096)
    assert cost.written_nbytes == 4 * 32 * 4096


@pytest.mark.parametrize("name,attrs", [("relu", {}), ("gelu", {"approximate": "tanh"}),
                                        ("gelu", {"approximate": "none"}), ("silu", {}),
                                        ("sigmoid", {}), ("erf", {})])
def test_in_place_equals_out_of_place(name, attrs) -> None:
    big = RNG.standard_normal((64, 1000)).astype(np.float32)  # several blocks
    (want,) = get_op(name).kernel([big], None, attrs)
    x = big.copy()
    get_op(name).kernel([x], [x], attrs)
    np.testing.assert_array_equal(x, want)


def test_kernel_given_outputs_allocates_no_tensor() -> None:
    a = RNG.standard_normal((8, 16)).astype(np.float32)
    w = RNG.standard_normal((16, 4)).astype(np.float32)
    out = np.empty((8, 4), np.float32)
    before = memory.snapshot()
    get_op("matmul").kernel([a, w], [out], {})
    get_op("relu").kernel([out], [out], {})
    assert memory.snapshot() == before


def test_shape_errors_quote_the_node() -> None:
    from mlxa.errors import ShapeError
    from mlxa.ir.builder import GraphBuilder

    b = GraphBuilder()
    x = b.input((32, 784))
    w = b.param(np.zeros((256, 10), np.float32))
    with pytest.raises(ShapeError, match=r"matmul f32\[32,784\], f32\[256,10\]"):
        b.op("matmul", x, w)
