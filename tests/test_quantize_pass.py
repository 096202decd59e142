"""The quantization pass: calibration methods, requantization's properties, the QDQ form and its
integer lowering as before/after IR, the plan of 8-bit buffers, and digits_cnn's accuracy."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlxa.analysis.buffers import assign_buffers
from mlxa.analysis.calibration import Observation, QParams, choose_range, fake_quantize
from mlxa.compiler import CompileOptions, compile_program
from mlxa.errors import UserInputError
from mlxa.ir.builder import GraphBuilder
from mlxa.ops.requantize import (
    quantize_multiplier,
    requantize,
    requantize_fixed_point,
)
from mlxa.passes.lower_qdq import lower_qdq
from mlxa.passes.quantize import QuantizeSpec, quantize_qdq, quantize_weight
from mlxa.runtime.compiled import CompiledModel
from mlxa.runtime.eager import EagerModel

RNG = np.random.default_rng(3)
ACC = st.integers(-(2 ** 31) + 1, 2 ** 31 - 1)
REAL = st.floats(1e-6, 0.99, allow_nan=False)


# -- requantization ------------------------------------------------------------------------------

@given(REAL)
def test_quantize_multiplier_is_a_q31_mantissa_and_shift(real: float) -> None:
    m0, shift = quantize_multiplier(real)
    assert 2 ** 30 <= m0 < 2 ** 31
    assert abs(Fraction(m0, 2 ** 31) * Fraction(2) ** shift - Fraction(real)) <= \
        Fraction(real) * Fraction(1, 2 ** 30)


@settings(max_examples=300)
@given(st.lists(ACC, min_size=1, max_size=20), REAL)
def test_fixed_point_requantization_is_within_one_step_and_monotone(accs, real) -> None:
    acc = np.array(sorted(accs), np.int64)
    m0, shift = quantize_multiplier(real)
    got = requantize_fixed_point(acc, np.int64(m0), np.int64(shift))
    exact = acc.astype(np.float64) * (m0 * 2.0 ** (shift - 31))
    assert np.all(np.abs(got - exact) <= 1.0)
    assert np.all(np.diff(got) >= 0)  # a larger accumulator never maps lower


def _half_up(x: Fraction) -> int:
    return (2 * x.numerator + x.denominator) // (2 * x.denominator)


def _half_away(x: Fraction) -> int:
    return _half_up(x) if x >= 0 else -_half_up(-x)


@settings(max_examples=300)
@given(ACC, REAL)
def test_fixed_point_rounds_twice_as_gemmlowp_specifies(acc: int, real: float) -> None:
    """The high multiply rounds acc * M0 / 2^31 half up; the shift then rounds half away from
    zero. Two roundings: 0.25 can become 1 (0.25 -> 0.5 -> 1), never further than 1 away."""
    m0, shift = quantize_multiplier(real)
    got = int(requantize_fixed_point(np.array([acc], np.int64), np.int64(m0), np.int64(shift))[0])
    high = _half_up(Fraction(acc * 2 ** max(shift, 0) * m0, 2 ** 31))
    assert got == _half_away(Fraction(high, 2 ** max(-shift, 0)))


@given(st.lists(st.integers(-(2 ** 24), 2 ** 24), min_size=1, max_size=20), REAL)
def test_float_rounding_is_float32_ties_to_even_and_clamped(accs, real) -> None:
    acc = np.array(accs, np.int64)
    got = requantize(acc, np.float32(real), np.int64(3), -128, 127, rounding="float")
    want = np.clip(np.rint(acc.astype(np.float32) * np.float32(real)) + 3, -128, 127)
    assert np.array_equal(got, want)


# -- calibration ----------------------------------------------------------------------------------

def _observation(with_outlier: bool) -> Observation:
    x = RNG.standard_normal(20000).astype(np.float32)
    if with_outlier:
        x[7] = 40.0
    return Observation(float(x.min()), float(x.max()), x)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_calibration_methods_order_their_ranges(dtype) -> None:
    obs = _observation(with_outlier=True)
    lo, hi = choose_range(obs, "minmax", np.dtype(dtype))
    assert (lo, hi) == (obs.lo, 40.0)
    p_lo, p_hi = choose_range(obs, "percentile", np.dtype(dtype), 99.9)
    assert lo <= p_lo < 0 < p_hi < 6.0  # the outlier clipped
    m_lo, m_hi = choose_range(obs, "mse", np.dtype(dtype))
    assert m_hi < hi

    def mse(r):
        q = QParams.of_range(*r, np.dtype(dtype))
        return float(np.mean((fake_quantize(obs.samples, q) - obs.samples) ** 2))

    assert mse((m_lo, m_hi)) <= mse((lo, hi))


@pytest.mark.parametrize("lo, hi", [(-1.0, 3.0), (0.0, 6.0), (0.5, 2.0), (-2.0, -1.0)])
def test_zero_is_exact_in_every_scheme(lo, hi) -> None:
    for dtype in (np.uint8, np.int8):
        q = QParams.of_range(lo, hi, np.dtype(dtype))
        assert fake_quantize(np.zeros(1, np.float32), q)[0] == 0.0
        assert q.dtype != np.int8 or q.zero_point == 0


def test_weights_are_symmetric_per_output_channel() -> None:
    w = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32) * np.arange(1, 5).reshape(4, 1, 1, 1)
    w_q, scale = quantize_weight(w, axis=0)
    assert w_q.dtype == np.int8 and np.abs(w_q).max() == 127 and w_q.min() >= -127
    np.testing.assert_allclose(scale, np.abs(w).reshape(4, -1).max(1) / 127, rtol=1e-6)
    assert np.abs(w_q * scale.reshape(4, 1, 1, 1) - w).max() <= scale.max() / 2 + 1e-6


# -- the pass, before and after -------------------------------------------------------------------

def _conv_net(batch: int = 2):
    b = GraphBuilder("net")
    x = b.input((batch, 3, 8, 8))
    w1 = b.param(RNG.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3)
    y = b.op("relu", b.op("conv", x, w1, b.param(np.full(8, 0.1, np.float32)),
                          pads=(1, 1, 1, 1), name="conv1"))
    w2 = b.param(RNG.standard_normal((8, 8, 3, 3)).astype(np.float32) * 0.2)
    y = b.op("clip", b.op("conv", y, w2, pads=(1, 1, 1, 1), name="conv2"), min=0.0, max=6.0)
    y = b.op("flatten", y, axis=1)
    w3 = b.param(RNG.standard_normal((10, 512)).astype(np.float32) * 0.05)
    y = b.op("gemm", y, w3, b.param(np.zeros(10, np.float32)), transB=1, name="fc")
    return b.build(y)


def _spec(graph, **kw) -> QuantizeSpec:
    shape = graph.inputs[0].shape
    batches = tuple((RNG.standard_normal(shape).astype(np.float32),) for _ in range(3))
    return QuantizeSpec(batches, **kw)


def _ops(graph) -> list[str]:
    return [n.op for n in graph.nodes]


def test_qdq_form_then_integer_ops() -> None:
    graph = _conv_net()
    assert _ops(graph) == ["conv", "relu", "conv", "clip", "flatten", "gemm"]
    qdq = quantize_qdq(graph, _spec(graph))
    assert _ops(qdq) == [
        "quantize_linear", "dequantize_linear",  # the input
        "dequantize_linear", "dequantize_linear", "conv", "relu",  # weight, bias
        "quantize_linear", "dequantize_linear",
        "dequantize_linear", "conv", "clip", "quantize_linear", "dequantize_linear",
        "flatten", "quantize_linear", "dequantize_linear",
        "dequantize_linear", "dequantize_linear", "gemm", "quantize_linear", "dequantize_linear"]
    lowered = lower_qdq(qdq)
    assert _ops(lowered) == ["quantize_linear", "qlinear_conv", "qlinear_conv", "flatten",
                             "qlinear_matmul", "dequantize_linear"]
    assert lowered.nodes[3].output.dtype == np.uint8  # flatten keeps the 8-bit levels
    # u8: each clamp is the calibrated range's own saturation, nothing left to clamp
    assert not any("act_min" in n.attrs or "act_max" in n.attrs for n in lowered.nodes)
    x = _spec(graph).batches[0][0]
    ref, qdq_y, int_y = (EagerModel(g)(x)[0] for g in (graph, qdq, lowered))
    scale = float(np.abs(ref).max())
    assert np.abs(qdq_y - ref).max() < 0.05 * scale
    assert np.abs(int_y - qdq_y).max() < 0.02 * scale  # requantization's rounding only


@pytest.mark.parametrize("activations", ["u8", "s8"])
@pytest.mark.parametrize("method", ["minmax", "percentile", "mse"])
def test_the_pipeline_compiles_a_quantized_program(activations, method) -> None:
    graph = _conv_net()
    spec = _spec(graph, activations=activations, method=method)
    program = compile_program(graph, CompileOptions(quantize=spec, verify=True))
    assert [r.name for r in program.passes][:3] == ["fold_batch_norm", "quantize", "lower_qdq"]
    x = spec.batches[1][0]
    got = CompiledModel(program)(x)[0]
    assert np.array_equal(got, EagerModel(program.graph)(x)[0])
    ref = EagerModel(graph)(x)[0]
    sqnr = 10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum((got - ref) ** 2.0))
    assert sqnr > 20


def test_eight_bit_buffers_plan_smaller() -> None:
    graph = _conv_net(batch=8)
    lowered = compile_program(graph, CompileOptions(quantize=_spec(graph), fuse=False)).graph
    f32 = assign_buffers(graph).lower_bound(64)
    int8 = assign_buffers(lowered).lower_bound(64)
    assert int8 < 0.7 * f32  # the conv activations: 1 byte an element, not 4


def test_symmetric_int8_keeps_relu_as_a_clamp() -> None:
    graph = _conv_net()
    lowered = lower_qdq(quantize_qdq(graph, _spec(graph, activations="s8")))
    conv1 = next(n for n in lowered.nodes if n.name == "conv1")
    assert conv1.attrs["act_min"] == 0  # relu's floor: the zero point, above -128


def test_bad_specs_are_user_errors() -> None:
    with pytest.raises(UserInputError, match="calibration"):
        QuantizeSpec(((np.zeros(1),),), method="kl")
    with pytest.raises(UserInputError, match="activations"):
        QuantizeSpec(((np.zeros(1),),), activations="u4")
    with pytest.raises(UserInputError, match="batch"):
        QuantizeSpec(())


# -- accuracy on a real task -----------------------------------------------------------------------

def test_digits_cnn_loses_at_most_half_a_point() -> None:
    pytest.importorskip("sklearn")
    from mlxa.models.digits_cnn import digits_split
    from mlxa.models.zoo import build

    x_train, _, x_test, y_test = digits_split()
    graph = build("digits_cnn", batch=len(x_test))
    batches = ((x_train[:len(x_test)],), (x_train[len(x_test):2 * len(x_test)],))
    program = compile_program(graph, CompileOptions(quantize=QuantizeSpec(batches)))
    fp32 = (EagerModel(graph)(x_test)[0].argmax(1) == y_test).mean()
    int8 = (CompiledModel(program)(x_test)[0].argmax(1) == y_test).mean()
    assert fp32 > 0.95
    assert fp32 - int8 <= 0.005
