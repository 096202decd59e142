"""The generated chain loop (kernels/chain.py): the (R, L) split indexes every broadcast it
accepts as numpy would, every op with a loop form matches the op table's numpy kernel (NaN and
infinities included) in both the direct and the in-place path, the generated module is cached
on disk and the kernel falls back to memory where the cache cannot be written."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from mlxa.kernels.chain import Operand, split
from mlxa.ops.fused import make_step
from mlxa.ops.table import get_op

HAS_NUMBA = importlib.util.find_spec("numba") is not None
needs_numba = pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed")
RNG = np.random.default_rng(3)


# -- the split ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("out", "ins", "want"), [
    ((4, 8), [(4, 8), (8,)], (8, (Operand("full"), Operand("col")))),
    ((2, 3, 5, 5), [(2, 3, 5, 5), (3, 1, 1)], (25, (Operand("full"), Operand("row", 3)))),
    ((2, 3, 5, 5), [(2, 3, 5, 5), (1, 3, 1, 1), ()],
     (25, (Operand("full"), Operand("row", 3), Operand("scalar")))),
    ((6, 7), [(6, 1), (6, 7)], (7, (Operand("row", 6), Operand("full")))),
    ((3, 4, 5), [(3, 4, 5), (4, 5)], (20, (Operand("full"), Operand("col")))),
])
def test_split_takes_the_longest_inner_axis_every_input_allows(out, ins, want) -> None:
    assert split(out, ins) == want


def test_split_refuses_a_broadcast_along_a_middle_axis_only() -> None:
    # (3, 1, 5) over (3, 4, 5) varies along the first and last axes but not the middle one;
    # k = 3 would make it a row operand of (3, 1, 5) over (3, 4, 5): no period indexes that
    assert split((3, 4, 5), [(3, 4, 5), (3, 1, 5)]) is None


@pytest.mark.parametrize(("out", "shape"), [((4, 8), (8,)), ((2, 3, 5, 5), (3, 1, 1)),
                                            ((6, 7), (6, 1)), ((3, 4, 5), (4, 5))])
def test_split_indexing_reproduces_numpy_broadcasting(out, shape) -> None:
    """What the generated loop reads at (r, j) is what np.broadcast_to puts there."""
    cols, (_, op) = split(out, [out, shape])
    a = np.arange(math.prod(shape)).reshape(shape)
    want = np.broadcast_to(a, out).reshape(-1, cols)
    flat = a.reshape(-1)
    got = np.empty_like(want)
    for r in range(want.shape[0]):
        for j in range(cols):
            index = {"col": j, "row": r % op.period, "scalar": 0, "full": r * cols + j}
            got[r, j] = flat[index[op.kind]]
    np.testing.assert_array_equal(got, want)


# -- every op against the op table ----------------------------------------------------------------

UNARY = [("relu", {}), ("neg", {}), ("abs", {}), ("sqrt", {}), ("reciprocal", {}),
         ("sigmoid", {}), ("silu", {}), ("tanh", {}), ("exp", {}),
         ("clip", {"min": 0.0, "max": 6.0}), ("clip", {"min": -1.0}),
         ("leaky_relu", {"alpha": 0.1}), ("hardsigmoid", {"alpha": 0.2, "beta": 0.5}),
         ("hardswish", {}), ("elu", {"alpha": 0.7}), ("selu", {}),
         ("gelu", {"approximate": "tanh"}), ("gelu", {"approximate": "none"}), ("erf", {})]
BINARY = ["add", "sub", "mul", "div", "max", "min", "prelu"]
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 100.0, -100.0, 1e-8, -1e-8, 88.0,
                    -88.0, 0.5], np.float32)


def _run(steps, ins: list[np.ndarray], out_shape, inplace: bool = False):
    """(chain kernel's result, the op table's result) of one fused group."""
    from mlxa.kernels.chain import bind_chain

    attrs = {"steps": tuple(steps)}
    fused = get_op("fused")
    want = np.empty(out_shape, np.float32)
    ws = np.empty(1 << 22, np.uint8)
    with np.errstate(all="ignore"):
        fused.bound(ins, [want], attrs, ws)()
        args = [a.copy() for a in ins]
        out = args[0] if inplace else np.empty(out_shape, np.float32)
        bind_chain(args, [out], attrs, None)()
    return out, want


def _close(got: np.ndarray, want: np.ndarray, rel: float = 2e-6) -> None:
    """Same NaNs and infinities; finite values within rel of the finite output's scale."""
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    fin = np.isfinite(want)
    np.testing.assert_array_equal(got[~fin & ~np.isnan(want)], want[~fin & ~np.isnan(want)])
    scale = max(1.0, float(np.abs(want[fin]).max())) if fin.any() else 1.0
    err = float(np.abs(got[fin].astype(np.float64) - want[fin]).max()) if fin.any() else 0.0
    assert err <= rel * scale, f"error {err:.3g} against scale {scale:.3g}"


@needs_numba
@pytest.mark.parametrize(("op", "attrs"), UNARY, ids=[f"{o}{i}" for i, (o, _) in enumerate(UNARY)])
def test_every_unary_op_matches_the_op_table(op: str, attrs: dict) -> None:
    x = np.concatenate([RNG.standard_normal(4000).astype(np.float32) * 4, SPECIAL])
    x = np.concatenate([x, np.zeros(16 - x.size % 16, np.float32)]).reshape(-1, 16)
    steps = [make_step("add", (0, 1), {}), make_step(op, (-1,), attrs)]
    bias = RNG.standard_normal(16).astype(np.float32)
    for inplace in (False, True):
        got, want = _run(steps, [x, bias], x.shape, inplace)
        _close(got, want)


@needs_numba
@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize("other", [(3, 1, 1), (2, 3, 5, 5), (), (5,)])
def test_every_binary_op_matches_the_op_table_under_each_broadcast(op: str, other) -> None:
    x = RNG.standard_normal((2, 3, 5, 5)).astype(np.float32)
    x.flat[:SPECIAL.size] = SPECIAL
    y = (RNG.standard_normal(other) + 0.5).astype(np.float32)
    got, want = _run([make_step(op, (0, 1), {})], [x, y], x.shape)
    _close(got, want)


@needs_numba
def test_a_long_chain_reading_one_input_three_times() -> None:
    """x * sigmoid(x) + x, then clip: operands reread after the first step."""
    x = RNG.standard_normal((7, 1030)).astype(np.float32) * 5  # rows longer than a chunk
    steps = [make_step("sigmoid", (0,), {}), make_step("mul", (0, -1), {}),
             make_step("add", (-1, 0), {}), make_step("clip", (-1,), {"min": -2.0, "max": 3.0})]
    for inplace in (False, True):
        got, want = _run(steps, [x], x.shape, inplace)
        _close(got, want)


# -- the cache ------------------------------------------------------------------------------------

@needs_numba
def test_the_generated_module_is_cached_and_an_unwritable_cache_falls_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlxa.kernels import chain, generated

    steps = (make_step("mul", (0, 0), {}), make_step("add", (-1, 1), {}))
    src = chain.source(steps, (Operand("full"), Operand("scalar")))
    assert src is not None
    monkeypatch.setattr(generated, "_LOADED", {})
    monkeypatch.setenv("MLXA_CACHE_DIR", str(tmp_path))
    fn = chain.compiled(src)
    files = list((tmp_path / "kernels").glob("chain_*.py"))
    assert len(files) == 1 and "def chain(" in files[0].read_text()
    assert chain.compiled(src) is fn  # one function per source in a process

    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setattr(generated, "_LOADED", {})
    monkeypatch.setenv("MLXA_CACHE_DIR", str(blocker))  # a file: nothing can go under it
    x = np.arange(24, dtype=np.float32).reshape(2, 12)
    out = np.empty_like(x)
    chain.compiled(src)(out, np.empty(8, np.float32), True, (1, 1), x, np.array([1.0], np.float32))
    np.testing.assert_array_equal(out, x * x + 1)


@needs_numba
@pytest.mark.parametrize(("op", "exact", "bound", "relative"), [
    ("sigmoid", lambda x: 1 / (1 + np.exp(-x)), 2.5e-7, False),
    ("tanh", np.tanh, 5e-7, False),
    ("exp", np.exp, 3e-7, True),
])
def test_the_vector_approximations_hold_their_stated_error(op, exact, bound, relative) -> None:
    """On a dense grid through both clamps, against float64: sigmoid and tanh absolutely (and
    inside [0, 1] and [-1, 1]), exp relatively."""
    x = np.linspace(-30, 30, 1 << 16, dtype=np.float32).reshape(-1, 64)
    got, _ = _run([make_step(op, (0,), {})], [x], x.shape)
    want = exact(x.astype(np.float64))
    err = np.abs(got - want)
    if relative:
        fin = want > np.finfo(np.float32).tiny
        err = err[fin] / want[fin]
    assert float(err.max()) <= bound
    if op != "exp":
        assert got.min() >= (0.0 if op == "sigmoid" else -1.0) and got.max() <= 1.0


@needs_numba
def test_sigmoid_and_tanh_stay_in_range_on_every_float32_near_saturation() -> None:
    """The rational form is not clamped inside |x| < 16 (8 for tanh): every float32 there
    with |x| >= 8 (4) is checked."""
    lo, hi = np.array([8.0, 16.0], np.float32).view(np.int32)
    x = np.arange(lo, hi, dtype=np.int32).view(np.float32)  # 2^23 values
    x = np.concatenate([x, -x, np.float32([16.0, -16.0]), np.full(62, 8, np.float32)])
    x = x.reshape(-1, 64)
    for op, scale, low in (("sigmoid", 1.0, 0.0), ("tanh", 0.5, -1.0)):
        got, _ = _run([make_step(op, (0,), {})], [x * np.float32(scale)], x.shape)
        assert got.min() >= low and got.max() <= 1.0
