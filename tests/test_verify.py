"""The correctness check: tolerance by dtype, shapes, and non-finite values."""

from __future__ import annotations

import numpy as np

from mlxa.verify import compare_outputs, tolerance


def test_within_and_beyond_the_float32_tolerance() -> None:
    rtol, atol = tolerance(np.dtype(np.float32))
    base = np.array([0.0, 1.0, 100.0], np.float32)
    near = base + np.array([atol * 0.5, rtol * 0.5, 100 * rtol * 0.5], np.float32)
    far = base + np.array([atol * 3, 0, 0], np.float32)
    assert compare_outputs([base], [near])["passed"]
    result = compare_outputs([base], [far])
    assert not result["passed"] and result["max_abs_diff"] > atol


def test_nan_and_inf_must_match_in_place() -> None:
    base = np.array([np.nan, np.inf, 1.0], np.float32)
    assert compare_outputs([base], [base.copy()])["passed"]
    assert compare_outputs([base], [base.copy()])["nonfinite_baseline_count"] == 2
    moved = np.array([1.0, np.inf, np.nan], np.float32)
    assert not compare_outputs([base], [moved])["passed"]


def test_shape_mismatch_fails() -> None:
    assert not compare_outputs([np.zeros(3, np.float32)], [np.zeros(4, np.float32)])["passed"]
