"""A compiled kernel's bound call (llvm_ir.Call) and a trial's Bound are functools.partial
subclasses: partial flattens one it wraps into its own function and arguments, so a Bound must
hold the call itself, and with it the slots its argument points into. Each is checked by
dropping every other reference, churning the allocator and calling it."""

from __future__ import annotations

import functools
import gc

import numpy as np
from llvm_kernels import MARKS

from mlxa.kernels.trial import Bound

pytestmark = MARKS


def test_a_bound_bound_call_keeps_what_its_arguments_point_into() -> None:
    from mlxa.kernels.llvm_ir import Call
    from mlxa.kernels.plane_copy import frame

    src = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    dst = np.full((2, 5, 6), np.nan, np.float32)
    bound = Bound(Bound(frame(src, dst, 1, 1), "inner"), "outer")
    gc.collect()
    churn = [np.full(n % 64 + 1, -1, np.int64) for n in range(5000)]  # reuse of freed memory
    bound()
    assert isinstance(bound.run, Bound) and isinstance(bound.run.run, Call)
    assert bound.variant == "outer" and bound.run.variant == "inner"
    want = np.zeros((2, 5, 6), np.float32)
    want[:, 1:4, 1:5] = src
    np.testing.assert_array_equal(dst, want)
    assert len(churn) == 5000


def test_a_bound_of_a_python_call_runs_it_and_names_it() -> None:
    seen: list[int] = []
    bound = Bound(functools.partial(seen.append, 3), "numpy")
    assert bound() is None and seen == [3] and bound.variant == "numpy"
    assert Bound(bound, "again").run is bound


def test_bounds_and_calls_copy_and_bounds_pickle() -> None:
    import copy
    import pickle

    from mlxa.kernels.plane_copy import frame

    bound = Bound(functools.partial(np.add, 1, 2), "numpy")
    for twin in (copy.copy(bound), copy.deepcopy(bound), pickle.loads(pickle.dumps(bound))):
        assert twin.variant == "numpy" and twin() == 3
    assert "numpy" in repr(bound)
    src = np.ones((1, 2, 2), np.float32)
    dst = np.full((1, 4, 4), np.nan, np.float32)
    call = copy.copy(Bound(frame(src, dst, 1, 1), "frame"))
    call()
    assert np.nansum(dst) == 4 and not np.isnan(dst).any()
