"""The Numba pooling loop (kernels/pool.py) against the op table's max_pool and avg_pool on
every geometry it accepts: strides 1, 2 and 3, pads, ceil_mode, count_include_pad, NaN."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from mlxa.kernels.registry import Site
from mlxa.ops import get_op
from mlxa.ops.table import TensorType

pytestmark = pytest.mark.skipif(importlib.util.find_spec("numba") is None,
                                reason="numba is not installed (pip install 'mlxa[kernels]')")
RNG = np.random.default_rng(5)
GEOMETRIES = [
    ((1, 3, 28, 28), {"kernel_shape": (2, 2), "strides": (2, 2)}),
    ((2, 4, 9, 7), {"kernel_shape": (3, 3), "strides": (2, 2), "pads": (1, 1, 1, 1)}),
    ((1, 2, 8, 8), {"kernel_shape": (3, 3), "strides": (1, 1), "pads": (1, 1, 1, 1)}),
    ((1, 2, 10, 11), {"kernel_shape": (3, 2), "strides": (3, 3), "pads": (0, 1, 2, 0)}),
    ((1, 2, 7, 7), {"kernel_shape": (2, 2), "strides": (2, 2), "ceil_mode": 1}),
    ((1, 1, 5, 5), {"kernel_shape": (5, 5), "strides": (1, 1)}),
    ((1, 2, 6, 9), {"kernel_shape": (3, 3), "strides": (2, 1), "pads": (1, 2, 1, 2)}),
]


def _site(op: str, shape: tuple[int, ...], attrs: dict, out_shape: tuple[int, ...]) -> Site:
    return Site(op, (TensorType(shape, np.dtype(np.float32)),),
                (TensorType(out_shape, np.dtype(np.float32)),), attrs, (False,))


@pytest.mark.parametrize(("shape", "attrs"), GEOMETRIES)
@pytest.mark.parametrize(("op", "include_pad"),
                         [("max_pool", 0), ("avg_pool", 0), ("avg_pool", 1)])
def test_pool_loop_matches_the_op_table(op: str, shape, attrs, include_pad: int) -> None:
    from mlxa.kernels.pool import bind_avg_pool, bind_max_pool, pool_applies

    attrs = {**attrs, "count_include_pad": include_pad} if op == "avg_pool" else attrs
    x = RNG.standard_normal(shape).astype(np.float32)
    x.flat[3] = np.nan
    x.flat[-2] = np.inf
    table = get_op(op)
    (want,) = table.kernel([x], None, attrs)
    assert pool_applies(_site(op, shape, attrs, want.shape))
    got = np.full_like(want, 7.0)
    bind = bind_max_pool if op == "max_pool" else bind_avg_pool
    bind([x], [got], attrs, None)()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_pool_loop_refuses_dilation_and_wide_pads() -> None:
    from mlxa.kernels.pool import pool_applies

    shape, out = (1, 1, 8, 8), (1, 1, 4, 4)
    assert not pool_applies(_site("max_pool", shape, {"kernel_shape": (2, 2),
                                                      "dilations": (2, 2)}, out))
    assert not pool_applies(_site("max_pool", shape, {"kernel_shape": (2, 2),
                                                      "pads": (2, 0, 0, 0)}, out))
