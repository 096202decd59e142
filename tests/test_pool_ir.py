"""The 2x2 stride-2 pool's vector loops (kernels/pool_ir.py) against numpy: max and mean, even
and odd maps (the last row and column dropped), rows of whole vectors, of a partial one and of
both, batch 2, NaN propagated by max, two calls in a row; the predicate takes only 2x2 windows at
stride 2 without padding; a compiled model chooses the kernels and passes the oracle."""

from __future__ import annotations

import numpy as np
import pytest
from llvm_kernels import MARKS

from mlxa.compiler import CompileOptions
from mlxa.ir.builder import GraphBuilder
from mlxa.ir.graph import TensorType
from mlxa.kernels import library  # noqa: F401
from mlxa.kernels.registry import Site
from mlxa.oracle import check
from mlxa.runtime.compiled import compile_model
from mlxa.runtime.eager import EagerModel

pytestmark = MARKS
RNG = np.random.default_rng(11)
POOL = {"kernel_shape": (2, 2), "strides": (2, 2), "pads": (0, 0, 0, 0), "dilations": (1, 1),
        "ceil_mode": 0, "count_include_pad": 0}


def want(x: np.ndarray, is_max: bool) -> np.ndarray:
    n, c, h, w = x.shape
    v = x[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2)
    return v.max(axis=(3, 5)) if is_max else v.mean(axis=(3, 5), dtype=np.float64)


@pytest.mark.parametrize("is_max", [True, False], ids=["max", "avg"])
@pytest.mark.parametrize("shape", [(1, 32, 28, 28), (2, 3, 9, 7), (1, 5, 33, 40), (1, 2, 2, 2),
                                   (1, 3, 5, 3), (1, 1, 32, 32), (1, 4, 4, 50)])
def test_the_loops_match_numpy(shape: tuple[int, ...], is_max: bool) -> None:
    from mlxa.kernels.pool_ir import pool2x2

    x = RNG.standard_normal(shape).astype(np.float32)
    x.flat[3] = np.nan  # max lets it win; the mean carries it
    n, c, h, w = shape
    out = np.empty((n, c, h // 2, w // 2), np.float32)
    step = pool2x2(x, out, is_max)
    for _ in range(2):
        out[:] = 7.0
        step()
        np.testing.assert_allclose(out, want(x, is_max), rtol=1e-6, atol=1e-6)
    i, j, y, q = np.unravel_index(3, shape)
    if y < h // 2 * 2 and q < w // 2 * 2:  # the NaN lies in a window
        assert np.isnan(out[i, j, y // 2, q // 2])


def test_the_call_refuses_what_it_cannot_read() -> None:
    from mlxa.kernels.pool_ir import pool2x2

    x = np.zeros((1, 2, 6, 6), np.float32)
    with pytest.raises(ValueError, match="needs a 8x6 input"):
        pool2x2(x, np.zeros((1, 2, 4, 3), np.float32), True)
    with pytest.raises(ValueError, match="C-contiguous"):
        pool2x2(x[:, :, :, ::2], np.zeros((1, 2, 3, 1), np.float32), True)


def site(attrs: dict, shape: tuple[int, ...] = (1, 4, 8, 8), dtype: type = np.float32,
         out: tuple[int, ...] = (1, 4, 4, 4)) -> Site:
    return Site("max_pool", (TensorType(shape, np.dtype(dtype)),),
                (TensorType(out, np.dtype(dtype)),), attrs, (False,), None)


def test_the_predicate_takes_only_2x2_windows_at_stride_2_without_padding() -> None:
    from mlxa.kernels.pool_ir import pool2x2_applies

    assert pool2x2_applies(site(POOL))
    refused = [site({**POOL, "kernel_shape": (3, 3)}), site({**POOL, "strides": (1, 1)}),
               site({**POOL, "pads": (1, 1, 0, 0)}), site(POOL, dtype=np.float64),
               site(POOL, shape=(4, 8, 8)), site({**POOL, "dilations": (2, 2)}),
               # ceil_mode's partial window at an odd edge: 9 -> 5
               site({**POOL, "ceil_mode": 1}, shape=(1, 4, 9, 9), out=(1, 4, 5, 5))]
    assert not any(pool2x2_applies(s) for s in refused)


def test_a_compiled_model_chooses_the_kernels_and_passes_the_oracle() -> None:
    g = GraphBuilder("pools")
    x = g.input((1, 6, 14, 14))
    y = g.op("max_pool", g.op("relu", x), **POOL)
    graph = g.build(g.op("avg_pool", g.op("relu", y), **POOL))
    m = compile_model(graph, CompileOptions(kernels=("llvm",)))
    chosen = " ".join(m.kernel_plan.describe(m.program.graph))
    assert "max_pool -> max_pool_vector" in chosen and "avg_pool -> avg_pool_vector" in chosen
    inputs = [RNG.standard_normal((1, 6, 14, 14)).astype(np.float32)]
    expect = tuple(np.array(a) for a in EagerModel(graph)(*inputs))
    assert check(graph, inputs, expect, m(*inputs)).passed


def test_a_strided_input_binds_what_would_bind_without_the_kernel_and_says_so() -> None:
    from mlxa.kernels.pool_ir import bind_max_pool

    x = RNG.standard_normal((1, 2, 8, 16)).astype(np.float32)[:, :, :, ::2]
    out = np.empty((1, 2, 4, 4), np.float32)
    step = bind_max_pool([x], [out], POOL, None)
    assert getattr(step, "variant", None) in ("max_pool_loop", "numpy")
    step()
    np.testing.assert_array_equal(out, want(x, True))


# max pools of any window through the depthwise loops' pool mode: (N, C, H, W), kernel,
# stride, pads (top, left, bottom, right)
WINDOWS = [
    ((1, 4, 112, 112), (3, 3), 2, (1, 1, 1, 1)),  # ResNet's stem pool
    ((2, 3, 9, 7), (3, 3), 2, (1, 1, 1, 1)),
    ((1, 2, 14, 14), (3, 3), 1, (1, 1, 1, 1)),  # a narrow map: one masked band
    ((1, 3, 20, 45), (5, 5), 2, (2, 2, 2, 2)),
    ((1, 2, 11, 13), (3, 2), 1, (0, 1, 2, 0)),  # asymmetric pads
    ((1, 2, 8, 70), (2, 2), 1, (0, 0, 0, 0)),  # rows longer than a run of columns
    ((1, 1, 1, 1), (1, 1), 1, (0, 0, 0, 0)),
    ((1, 2, 6, 9), (3, 3), 2, (0, 0, 0, 0)),  # odd maps, last row and column left out
]


def max_pool_reference(x: np.ndarray, kernel: tuple[int, int], stride: int,
                       pads: tuple[int, ...]) -> np.ndarray:
    """Every window's max over a -inf-padded copy, tap by tap (NaN wins, as np.maximum)."""
    (kh, kw), (pt, pl, pb, pr) = kernel, pads
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=-np.inf)
    oh, ow = (xp.shape[2] - kh) // stride + 1, (xp.shape[3] - kw) // stride + 1
    out = np.full(x.shape[:2] + (oh, ow), -np.inf, np.float32)
    for i in range(kh):
        for j in range(kw):
            out = np.maximum(out, xp[:, :, i:i + stride * (oh - 1) + 1:stride,
                                     j:j + stride * (ow - 1) + 1:stride])
    return out


@pytest.mark.parametrize("shape,kernel,stride,pads", WINDOWS)
def test_any_max_pool_window_matches_the_reference(shape, kernel, stride, pads) -> None:
    from mlxa.kernels.pool_ir import max_pool_window
    from mlxa.ops import get_op

    x = RNG.standard_normal(shape).astype(np.float32)
    x.flat[min(7, x.size - 1)] = np.nan
    x.flat[x.size // 2] = -np.inf
    attrs = dict(POOL, kernel_shape=kernel, strides=(stride, stride), pads=pads)
    want = max_pool_reference(x, kernel, stride, pads)
    (table,) = get_op("max_pool").kernel([x], None, attrs)
    np.testing.assert_array_equal(table, want)  # the reference is the op table's pool
    out = np.full(want.shape, 7.0, np.float32)
    call = max_pool_window(x, out, attrs)
    for _ in range(2):  # the -inf row and the sink stay as they were
        out[:] = 7.0
        call()
        np.testing.assert_array_equal(out, want)


def test_the_window_predicate_takes_strides_1_and_2_and_refuses_the_rest() -> None:
    from mlxa.kernels.pool_ir import window_applies

    def site(**attrs: object) -> Site:
        x = TensorType((1, 4, 16, 16), np.dtype(np.float32))
        a = dict(POOL, kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1))
        a.update(attrs)
        return Site("max_pool", (x,), (x,), a, (False,), None)

    assert window_applies(site()) and window_applies(site(strides=(1, 1)))
    refused = [site(ceil_mode=1), site(strides=(3, 3)), site(strides=(1, 2)),
               site(kernel_shape=(8, 8), pads=(0, 0, 0, 0)), site(dilations=(2, 2)),
               site(pads=(3, 0, 0, 0)), site(storage_order=1)]
    assert not any(window_applies(s) for s in refused)


def test_a_compiled_model_runs_resnets_stem_pool_through_the_window_loops() -> None:
    from mlxa.kernels.trial import forced

    g = GraphBuilder("stem")
    x = g.input((1, 8, 32, 32))
    graph = g.build(g.op("max_pool", x, kernel_shape=(3, 3), strides=(2, 2),
                         pads=(1, 1, 1, 1)))
    with forced():
        m = compile_model(graph, CompileOptions(kernels=("llvm",)))
    assert m.kernel_lines() == ("%0 max_pool -> max_pool_window",)
    inputs = [RNG.standard_normal((1, 8, 32, 32)).astype(np.float32)]
    want = tuple(np.array(a) for a in EagerModel(graph)(*inputs))
    assert check(graph, inputs, want, m(*inputs)).passed
