"""The one-row gemm as LLVM IR (kernels/gemv_ir.py): the product against float64 for widths
around its block of 32 columns and one vector, with and without bias and with a clamp, nothing
stored past the output's width; B transposed or not through the kernel's bind; the predicate's
refusals; a compiled model that chooses it and passes the oracle; the trial's default within
the model's selection."""

from __future__ import annotations

import dataclasses

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

pytestmark = MARKS  # skipped without llvmlite; the kernels run, not their trials
RNG = np.random.default_rng(9)


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("n", [1, 7, 8, 10, 20, 31, 32, 33, 70])  # 1 to 4 vectors a block
@pytest.mark.parametrize("k", [1, 5, 160])
def test_the_product_matches_float64_and_stores_nothing_past_the_width(n: int, k: int) -> None:
    from mlxa.kernels.gemv_ir import gemv

    x, w, b = f32(1, k), f32(k, n), f32(n)
    for bias, (lo, hi) in ((b, (-np.inf, np.inf)), (None, (-0.5, 0.75))):
        wide = np.full((1, n + 5), np.nan, np.float32)
        call = gemv(x, w, bias, wide[:, :n], (lo, hi))
        call()
        want = x.astype(np.float64) @ w + (0 if bias is None else b)
        np.testing.assert_allclose(wide[:, :n], np.clip(want, lo, hi), rtol=1e-5, atol=1e-5)
        assert np.isnan(wide[:, n:]).all()


@pytest.mark.parametrize("trans_b", [0, 1])
def test_the_bound_gemm_matches_numpy(trans_b: int) -> None:
    from mlxa.kernels.gemv_ir import bind_gemv

    x, w, b = f32(1, 40), f32(40, 19), f32(19)
    wb = np.ascontiguousarray(w.T) if trans_b else w
    for ins in ([x, wb, b], [x, wb], [x, wb, b.reshape(1, -1)]):
        out = np.full((1, 19), np.nan, np.float32)
        bind_gemv(ins, [out], {"transB": trans_b}, None)()
        want = x.astype(np.float64) @ w + (b if len(ins) == 3 else 0)
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


def site(a: tuple[int, ...], b: tuple[int, ...], params: tuple[bool, ...] = (False, True, True),
         dtype: type = np.float32, bias: tuple[int, ...] | None = (10,), **attrs: object) -> Site:
    ins = [TensorType(a, np.dtype(dtype)), TensorType(b, np.dtype(dtype))]
    if bias is not None:
        ins.append(TensorType(bias, np.dtype(dtype)))
    return Site("gemm", tuple(ins), (), attrs, params[:len(ins)], None)


def test_the_predicate_takes_one_row_and_refuses_the_rest() -> None:
    from mlxa.kernels.gemv_ir import gemv_applies

    assert gemv_applies(site((1, 16), (16, 10)))
    assert gemv_applies(site((1, 16), (10, 16), transB=1))
    assert gemv_applies(site((1, 16), (16, 10), bias=None))
    assert not gemv_applies(site((2, 16), (16, 10)))  # two rows
    assert not gemv_applies(site((1, 16), (16, 10), params=(False, False, True)))
    assert not gemv_applies(site((1, 16), (16, 10), params=(False, True, False)))
    assert not gemv_applies(site((1, 16), (16, 10), dtype=np.float64))
    assert not gemv_applies(site((16, 1), (16, 10), transA=1))
    assert not gemv_applies(site((1, 16), (16, 10), alpha=2.0))
    assert not gemv_applies(site((1, 16), (16, 10), bias=(1, 1)))  # a broadcast bias


def test_a_compiled_classifier_chooses_the_kernel_and_passes_the_oracle() -> None:
    g = GraphBuilder("head")
    x = g.input((1, 3, 8, 8))
    y = g.op("flatten", g.op("relu", x))
    y = g.op("gemm", y, g.param(f32(10, 192)), g.param(f32(10)), transB=1)
    graph = g.build(y)
    model = compile_model(graph, CompileOptions(kernels=("llvm",)))
    assert [c.kernel.name for c in model.kernel_plan.choices.values()] == ["gemv_llvm"]
    inputs = [f32(1, 3, 8, 8)]
    want = tuple(np.array(a) for a in EagerModel(graph)(*inputs))
    assert check(graph, inputs, want, model(*inputs)).passed


def test_the_trial_default_is_gemm_packed_only_where_the_selection_has_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from mlxa.kernels import gemv_ir
    from mlxa.kernels.registry import KERNELS

    defaults: list[str] = []
    packed: list[bool] = []
    monkeypatch.setattr(gemv_ir, "against_default",
                        lambda candidate, name, default: defaults.append(default()[1])
                        or candidate())
    original = KERNELS["gemm_packed"]  # the default binds through the registry
    monkeypatch.setitem(KERNELS, "gemm_packed", dataclasses.replace(
        original, bind=lambda *args: packed.append(True) or original.bind(*args)))
    g = GraphBuilder("head")
    x = g.input((1, 12))
    graph = g.build(g.op("gemm", x, g.param(f32(12, 5)), g.param(f32(5))))
    compile_model(graph, CompileOptions(kernels=("llvm",)))
    assert defaults == ["numpy"] and not packed  # the op table's gemm
    if KERNELS["gemm_packed"].available:
        compile_model(graph, CompileOptions(kernels=("all",)))
        assert packed == [True] and defaults[1] in ("numpy", "onednn_packed")
