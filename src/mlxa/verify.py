"""Element-wise agreement within a tolerance set by dtype: for comparing our outputs with another
implementation's (ONNX Runtime, XLA) in tests and benchmarks. A run's correctness is judged by
the oracle (oracle.py) instead: an element-wise rtol cries wolf on logits near zero.

PASS when every element satisfies |opt - base| <= atol + rtol * |base| (numpy's allclose rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# dtype -> (rtol, atol). The atol leaves room for summation reordering (batch norm folded into
# a conv's weights changes the rounding of deep networks' outputs by a few 1e-6 in float32).
TOLERANCES: dict[str, tuple[float, float]] = {
    "float16": (1e-3, 1e-5),
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
}


def tolerance(dtype: np.dtype) -> tuple[float, float]:
    return TOLERANCES.get(np.dtype(dtype).name, (0.0, 0.0))


def compare_outputs(base: Sequence[np.ndarray], opt: Sequence[np.ndarray]) -> dict[str, Any]:
    """Max differences over the elements where both are finite; NaN and infinities must sit at
    the same places with the same values for a PASS."""
    max_abs = max_rel = 0.0
    nonfinite = sum(int(np.size(a) - np.count_nonzero(np.isfinite(a))) for a in base)
    passed = len(base) == len(opt)
    rtol, atol = tolerance(base[0].dtype) if base else (0.0, 0.0)
    for b, o in zip(base, opt):
        rtol, atol = tolerance(b.dtype)
        if b.shape != o.shape:
            passed = False
            continue
        b64, o64 = b.astype(np.float64), o.astype(np.float64)
        finite = np.isfinite(b64) & np.isfinite(o64)
        diff = np.abs(o64[finite] - b64[finite])
        max_abs = max(max_abs, float(diff.max(initial=0.0)))
        denom = np.maximum(np.abs(b64[finite]), np.finfo(np.float64).tiny)
        max_rel = max(max_rel, float((diff / denom).max(initial=0.0)))
        passed &= bool(np.all(np.isclose(o64, b64, rtol=rtol, atol=atol, equal_nan=True)))
    return {"passed": passed, "max_abs_diff": max_abs, "max_rel_diff": max_rel,
            "rtol": rtol, "atol": atol, "dtype": str(base[0].dtype) if base else "",
            "nonfinite_baseline_count": nonfinite}
