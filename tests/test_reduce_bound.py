"""The bound reductions (ops/reduce.py): a float input's ufunc reduce (and one divide for the
mean) computes what the op's kernel computes, np.sum / np.mean / np.max / np.min, bit for bit,
over every axes and keepdims, in float32 and float64, NaN and infinities included; an integer
or empty input binds the kernel itself; a mean of more than 2**24 elements divides by the exact
count."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mlxa.ops import get_op

OPS = ("reduce_sum", "reduce_mean", "reduce_max", "reduce_min")
AXES = [None, (), (0,), (-1,), (1, 2), (-2, -1), (0, 2), (0, 1, 2)]


def bound_and_kernel(name: str, x: np.ndarray, attrs: dict) -> tuple[np.ndarray, np.ndarray]:
    op = get_op(name)
    (want,) = op.kernel([x], None, attrs)
    got = np.full(want.shape, 7, want.dtype)
    op.bound([x], [got], attrs, None)()
    return got, np.asarray(want)


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bound_reductions_equal_the_kernel_bit_for_bit(name: str, dtype: type) -> None:
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((3, 5, 7)) * 100).astype(dtype)
    special = x.copy()
    special[0, 1, 2], special[2, 4, 6], special[1, 0, 0] = np.nan, np.inf, -np.inf
    for data in (x, special, x.transpose(2, 0, 1), special[::2, 1:, ::3]):  # strided views
        for axes in AXES:
            for keep in (0, 1):
                if axes and max(axes) >= data.ndim:
                    continue
                got, want = bound_and_kernel(name, data, {"axes": axes, "keepdims": keep})
                assert got.dtype == want.dtype and got.shape == want.shape
                np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", OPS)
def test_integers_and_empty_inputs_bind_the_kernel(name: str) -> None:
    ints = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    got, want = bound_and_kernel(name, ints, {"axes": (1,), "keepdims": 0})
    np.testing.assert_array_equal(got, want)
    empty = np.zeros((2, 0, 3), np.float32)
    op = get_op(name)
    out = np.full((2, 3), 7, np.float32)
    call = op.bound([empty], [out], {"axes": (1,), "keepdims": 0}, None)
    if name in ("reduce_max", "reduce_min"):  # as the kernel: no maximum of nothing
        with pytest.raises(ValueError, match="empty"):
            call()
    else:
        with warnings.catch_warnings():  # numpy's "mean of empty slice", as the kernel's
            warnings.simplefilter("ignore", RuntimeWarning)
            call()
        np.testing.assert_array_equal(out, np.zeros((2, 3)) if name == "reduce_sum"
                                      else np.full((2, 3), np.nan))


def test_a_large_mean_divides_by_the_exact_count() -> None:
    """2**24 + 1 is no float32: a count rounded to it would leave the mean of ones at 1.0."""
    x = np.ones(2 ** 24 + 1, np.float32)
    got, want = bound_and_kernel("reduce_mean", x, {"axes": (0,), "keepdims": 0})
    assert got == want == np.mean(x)
