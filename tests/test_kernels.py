"""Custom kernels (mlxa.kernels): the registry binds a kernel only where its predicate holds and
its library is installed, the oracle passes with every kernel on, each shipped kernel matches
the float64 reference within the oracle's bound on its case study and on odd geometries, and
every configuration of the ablation compiles and passes."""

from __future__ import annotations

import contextlib
import importlib.util
from functools import partial

import numpy as np
import pytest
from cli_helpers import assert_one_line_error, run_cli

from mlxa.compiler import CompileOptions
from mlxa.ir.builder import GraphBuilder
from mlxa.ir.graph import Graph
from mlxa.kernels import library  # noqa: F401
from mlxa.kernels.plan import plan_kernels
from mlxa.kernels.reference import conv_reference
from mlxa.kernels.registry import KERNELS, register_kernel
from mlxa.oracle import check
from mlxa.runtime.compiled import compile_model
from mlxa.runtime.eager import EagerModel

RNG = np.random.default_rng(12)
HAS_NUMBA = importlib.util.find_spec("numba") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None
ALL = CompileOptions(kernels=("all",))
NUMBA = CompileOptions(kernels=("numba",))  # the Numba loops alone (llvm's would bind first)


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def passes(graph: Graph, inputs: list[np.ndarray], options: CompileOptions = ALL) -> bool:
    want = tuple(np.array(a) for a in EagerModel(graph)(*inputs))
    return check(graph, inputs, want, compile_model(graph, options)(*inputs)).passed


def chosen(graph: Graph, options: CompileOptions = ALL) -> list[str]:
    m = compile_model(graph, options)
    return [c.kernel.name for _, c in sorted(m.kernel_plan.choices.items())]


@pytest.fixture(autouse=True)
def kernels_always_win(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bind-time trials keep the kernel, so these tests run the kernel itself (a trial on a
    busy machine may keep numpy's call instead)."""
    from mlxa.kernels import conv_packed, linear, plan
    from mlxa.kernels.trial import Bound

    for module in (plan, linear, conv_packed):
        monkeypatch.setattr(module, "keep_faster", lambda c, name, d: Bound(c, name))


# -- the registration API -------------------------------------------------------------------------

@pytest.fixture
def doubling_relu(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A toy relu kernel for rows of 8, counting its calls; removed after the test."""
    calls: list[int] = []
    monkeypatch.setattr("mlxa.kernels.registry.KERNELS", dict(KERNELS))

    def run(x: np.ndarray, out: np.ndarray) -> None:
        calls.append(1)
        np.maximum(x, 0, out=out)

    def bind(ins, outs, attrs, workspace):  # type: ignore[no-untyped-def]
        return partial(run, ins[0], outs[0])

    register_kernel("relu", name="toy_relu", technique="numba",
                    applies=lambda s: s.ins[0].shape[-1] == 8)(bind)
    return calls


def two_relus() -> tuple[Graph, list[np.ndarray]]:
    g = GraphBuilder("two")
    a, b = g.input((3, 8)), g.input((3, 5))
    return g.build(g.op("relu", a), g.op("relu", b)), [f32(3, 8), f32(3, 5)]


def test_a_kernel_binds_only_where_its_predicate_holds(doubling_relu: list[int]) -> None:
    graph, inputs = two_relus()
    m = compile_model(graph, CompileOptions(kernels=("toy_relu",)))
    assert [c.kernel.name for c in m.kernel_plan.choices.values()] == ["toy_relu"]
    assert m.kernel_plan.describe(m.program.graph) == ["%0 relu -> toy_relu"]
    assert passes(graph, inputs, CompileOptions(kernels=("toy_relu",)))
    assert doubling_relu  # it ran


def test_kernels_bind_only_as_selected(doubling_relu: list[int]) -> None:
    graph, inputs = two_relus()
    assert chosen(graph, CompileOptions(kernels=())) == []
    assert chosen(graph, CompileOptions()) == ["toy_relu"]  # every kernel is on offer by default
    assert chosen(graph, CompileOptions(kernels=("epilogue",))) == []
    assert chosen(graph, CompileOptions(kernels=("numba",))) == ["toy_relu"]


def test_registration_refuses_duplicates_and_unknown_techniques() -> None:
    with pytest.raises(ValueError, match="twice"):
        register_kernel("conv", name="conv_act", technique="epilogue",
                        applies=lambda s: True)(lambda *a: None)
    with pytest.raises(ValueError, match="technique"):
        register_kernel("conv", name="x", technique="magic", applies=lambda s: True)


def conv_relu6(depthwise: bool, **attrs: object) -> tuple[Graph, list[np.ndarray]]:
    g = GraphBuilder("cr")
    x = g.input((2, 6, 9, 9))
    w = f32(6, 1, 3, 3) if depthwise else f32(4, 6, 3, 3)
    y = g.op("conv", x, g.param(w), g.param(f32(w.shape[0])), pads=(1, 1, 1, 1),
             group=6 if depthwise else 1, **attrs)
    return g.build(g.op("clip", y, min=0.0, max=6.0)), [f32(2, 6, 9, 9) * 3]


def test_without_kernel_libraries_everything_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    hidden = ("numba", "torch", "llvmlite")
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in hidden else real(name, *a))
    graph, inputs = conv_relu6(depthwise=True)
    assert chosen(graph) == ["conv_act"]  # the numpy epilogue: no library needed
    assert passes(graph, inputs)
    assert plan_kernels(graph, ("llvm", "numba", "prepack")).choices == {}


@pytest.mark.skipif(importlib.util.find_spec("llvmlite") is None, reason="llvmlite missing")
def test_llvmlite_without_numba_binds_the_vector_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """llvmlite installs on its own: the vector kernels bind, their trials against the op
    table (depthwise_act and conv_direct need Numba)."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "numba" else real(name, *a))
    for depthwise, kernel in ((True, "depthwise_vector"), (False, "conv_gemm")):
        graph, inputs = conv_relu6(depthwise=depthwise)
        assert chosen(graph) == [kernel]
        assert passes(graph, inputs)


def test_an_epilogue_is_absorbed_only_in_place() -> None:
    graph, inputs = conv_relu6(depthwise=False)
    m = compile_model(graph, CompileOptions(kernels=("epilogue",)))
    assert m.kernel_plan.describe(m.program.graph) == ["%0 conv -> conv_act (+ clip %1)"]
    assert len(m.calls) == 1
    assert chosen(graph, CompileOptions(kernels=("epilogue",), inplace=False)) == []
    assert passes(graph, inputs, CompileOptions(kernels=("epilogue",)))


def test_an_output_of_the_graph_is_never_absorbed() -> None:
    g = GraphBuilder("both")
    x = g.input((1, 4, 5, 5))
    y = g.op("conv", x, g.param(f32(4, 4, 1, 1)))
    graph = g.build(y, g.op("relu", y))
    assert chosen(graph, CompileOptions(kernels=("epilogue",))) == []


# -- each kernel against the float64 reference -----------------------------------------------------

@pytest.mark.parametrize("case", ["depthwise_relu6", "depthwise_s2_relu6", "conv3x3_relu",
                                  "conv1x1_relu6", "bias_gelu", "layer_norm", "softmax"])
def test_case_studies_pass_the_oracle_with_their_kernel(case: str) -> None:
    from mlxa.studies.kernels import CASES

    graph, inputs = CASES[case].build(np.random.default_rng(0))
    names = chosen(graph)
    needs_numba = case.startswith("depthwise") or case in ("bias_gelu", "layer_norm", "softmax")
    if needs_numba and not HAS_NUMBA:
        assert not set(names) & {k.name for k in KERNELS.values() if k.technique == "numba"}
    else:
        assert names, f"no kernel chose {case}"
    assert passes(graph, inputs)


@pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed (pip install 'mlxa[kernels]')")
@pytest.mark.parametrize("shape,kernel,attrs", [
    ((1, 5, 7, 11), (5, 1, 3, 3), {"strides": (2, 2), "pads": (1, 0, 1, 2)}),
    ((2, 3, 8, 8), (3, 1, 5, 5), {"strides": (1, 1), "pads": (2, 2, 2, 2)}),
    ((1, 4, 6, 6), (4, 1, 3, 3), {"strides": (1, 2), "pads": (0, 0, 0, 0)}),
    ((1, 3, 9, 10), (3, 1, 5, 5), {"strides": (2, 2), "pads": (2, 2, 2, 2)}),
    ((2, 3, 8, 7), (3, 1, 3, 3), {"strides": (2, 2), "pads": (0, 0, 1, 1)}),
    ((1, 2, 5, 5), (2, 1, 3, 3), {"strides": (1, 1), "pads": (0, 1, 2, 0)}),
])
def test_depthwise_kernel_on_odd_geometries(shape: tuple[int, ...], kernel: tuple[int, ...],
                                            attrs: dict) -> None:
    g = GraphBuilder("dw")
    x = g.input(shape)
    y = g.op("conv", x, g.param(f32(*kernel)), group=shape[1], **attrs)
    graph = g.build(g.op("relu", y))
    assert chosen(graph, NUMBA) == ["depthwise_act"]
    assert passes(graph, [f32(*shape)], NUMBA)


EPILOGUES = {"none": None, "relu": ("relu", {}), "clip": ("clip", {"min": 0.0, "max": 6.0})}
# (N, C, H, W), kernel, strides, pads (top, left, bottom, right): the "same" 3x3 loops (pads 1,
# strides 1 and 2) at 7x7, 14x14 and images wide enough to be read in place (4 rows the
# fewest; at stride 2, outputs 24 wide and more in 16-output blocks, one row or several),
# odd sizes that leave them for the padded loops (5x9, 7x7 at stride 2), pads 0 and
# asymmetric ones, 5x5 kernels, batch 2, strides the generic loop takes.
DEPTHWISE_CASES = [
    ((1, 3, 7, 7), 3, (1, 1), (1, 1, 1, 1)),
    ((2, 4, 14, 14), 3, (1, 1), (1, 1, 1, 1)),
    ((1, 2, 40, 36), 3, (1, 1), (1, 1, 1, 1)),
    ((2, 2, 4, 33), 3, (1, 1), (1, 1, 1, 1)),
    ((1, 2, 3, 40), 3, (1, 1), (1, 1, 1, 1)),
    ((2, 3, 5, 9), 3, (1, 1), (1, 1, 1, 1)),
    ((1, 2, 1, 1), 3, (1, 1), (1, 1, 1, 1)),
    ((1, 2, 2, 1), 3, (1, 1), (1, 1, 1, 1)),
    ((1, 3, 14, 14), 3, (2, 2), (1, 1, 1, 1)),
    ((2, 2, 8, 6), 3, (2, 2), (1, 1, 1, 1)),
    ((1, 2, 64, 40), 3, (2, 2), (1, 1, 1, 1)),
    ((1, 2, 2, 2), 3, (2, 2), (1, 1, 1, 1)),
    ((1, 3, 7, 7), 3, (2, 2), (1, 1, 1, 1)),
    ((2, 3, 5, 9), 3, (2, 2), (1, 1, 1, 1)),
    ((2, 3, 48, 50), 3, (2, 2), (1, 1, 1, 1)),
    ((1, 3, 6, 96), 3, (2, 2), (1, 1, 1, 1)),
    ((2, 2, 2, 64), 3, (2, 2), (1, 1, 1, 1)),
    ((1, 5, 4, 112), 3, (2, 2), (1, 1, 1, 1)),
    ((1, 3, 7, 7), 3, (1, 1), (0, 0, 0, 0)),
    ((1, 2, 9, 40), 3, (1, 1), (0, 0, 0, 0)),
    ((2, 3, 5, 9), 3, (2, 2), (0, 0, 0, 0)),
    ((1, 2, 14, 14), 3, (2, 2), (0, 0, 1, 1)),
    ((1, 2, 12, 70), 3, (2, 2), (0, 1, 1, 0)),
    ((1, 3, 9, 8), 3, (1, 1), (2, 0, 1, 2)),
    ((2, 3, 7, 7), 5, (1, 1), (2, 2, 2, 2)),
    ((1, 2, 5, 9), 5, (1, 1), (1, 0, 1, 0)),
    ((1, 2, 36, 33), 5, (1, 1), (2, 2, 2, 2)),
    ((2, 3, 14, 14), 5, (2, 2), (2, 2, 2, 2)),
    ((1, 2, 5, 9), 5, (2, 2), (1, 3, 0, 1)),
    ((1, 2, 9, 9), 3, (1, 2), (1, 1, 1, 1)),
    ((1, 2, 11, 10), 3, (3, 3), (1, 1, 1, 1)),
]


@pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed (pip install 'mlxa[kernels]')")
@pytest.mark.parametrize("epilogue", sorted(EPILOGUES))
@pytest.mark.parametrize("shape,k,strides,pads", DEPTHWISE_CASES)
def test_depthwise_loops_match_the_float64_reference(shape: tuple[int, ...], k: int,
                                                     strides: tuple[int, int],
                                                     pads: tuple[int, ...], epilogue: str) -> None:
    """Every loop bind_depthwise chooses, on its borders and odd sizes, with and without a
    planned workspace (too small for it too), bias or none, each epilogue."""
    from mlxa.kernels.jit import bind_depthwise

    n, c, h, wd = shape
    x = f32(*shape) * 3
    w, b = f32(c, 1, k, k), f32(c)
    oh = (h + pads[0] + pads[2] - k) // strides[0] + 1
    ow = (wd + pads[1] + pads[3] - k) // strides[1] + 1
    attrs: dict = {"strides": strides, "pads": pads, "group": c}
    lo, hi = -np.inf, np.inf
    if EPILOGUES[epilogue] is not None:
        attrs["epilogue"] = EPILOGUES[epilogue]
        lo, hi = (0.0, 6.0) if epilogue == "clip" else (0.0, np.inf)
    for ins, workspace in (([x, w, b], None), ([x, w], np.empty(64, np.uint8)),
                           ([x, w, b], np.empty(1 << 20, np.uint8))):
        out = np.full((n, c, oh, ow), np.nan, np.float32)
        bind_depthwise(ins, [out], attrs, workspace)()
        bias = ins[2] if len(ins) == 3 else np.zeros(c, np.float32)
        want = conv_reference(x, w, bias, strides, pads, lo, hi)
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
        bind_depthwise(ins, [out], attrs, workspace)()  # a second call reuses its scratch
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed (pip install 'mlxa[kernels]')")
@pytest.mark.parametrize("shape,strides,loop", [
    ((1, 4, 14, 14), (1, 1), "depthwise3_same"), ((1, 4, 28, 28), (2, 2), "depthwise3_same_s2"),
    ((1, 4, 56, 56), (2, 2), "depthwise3_same_s2_blk"), ((1, 4, 7, 7), (2, 2), "depthwise_s2"),
    ((1, 4, 5, 9), (1, 1), "depthwise3_same")])
def test_mobilenet_depthwise_convs_take_the_same_loops(shape: tuple[int, ...],
                                                       strides: tuple[int, int],
                                                       loop: str) -> None:
    """3x3 pads 1: stride 1 always, stride 2 on even sizes, in the "same" loops (no padded
    copy); and the loops read a non-contiguous input through the padded ones."""
    from mlxa.kernels.jit import bind_depthwise

    c = shape[1]
    x, w = f32(*shape), f32(c, 1, 3, 3)
    oh, ow = (shape[2] - 1) // strides[0] + 1, (shape[3] - 1) // strides[1] + 1
    out = np.empty((1, c, oh, ow), np.float32)
    attrs = {"strides": strides, "pads": (1, 1, 1, 1), "group": c}
    assert bind_depthwise([x, w], [out], attrs, None).func.__name__ == loop
    strided = np.repeat(x, 2, axis=3)[..., ::2]
    step = bind_depthwise([strided, w], [out], attrs, None)
    assert step.func.__name__ in ("depthwise_s1", "depthwise_s2")
    step()
    want = conv_reference(x, w, np.zeros(c, np.float32), strides, (1, 1, 1, 1),
                               -np.inf, np.inf)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed (pip install 'mlxa[kernels]')")
def test_vectorised_exp_holds_at_the_extremes() -> None:
    g = GraphBuilder("gelu")
    x = g.input((4, 64))
    graph = g.build(g.op("gelu", g.op("add", x, g.param(f32(64))), approximate="tanh"))
    big = np.linspace(-60, 60, 256, dtype=np.float32).reshape(4, 64)
    assert chosen(graph) == ["chain_loop"]
    assert passes(graph, [big])


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_prepacked_linear_matches_with_and_without_its_bias() -> None:
    g = GraphBuilder("lin")
    x = g.input((2, 3, 16))
    y = g.op("add", g.op("matmul", x, g.param(f32(16, 8))), g.param(f32(8)))
    z = g.op("gemm", g.op("reshape", y, shape=(6, 8)), g.param(f32(5, 8)), g.param(f32(5)),
             transB=1)
    graph = g.build(z)
    assert chosen(graph) == ["linear_packed", "gemm_packed"]
    assert passes(graph, [f32(2, 3, 16)])


# -- the ablation's configurations ---------------------------------------------------------------

@pytest.mark.parametrize("model", ["small_cnn", "transformer"])
def test_every_ablation_configuration_compiles_and_passes(model: str) -> None:
    from mlxa.models.zoo import build
    from mlxa.studies.ablation import CONFIGS

    graph = build(model, batch=2)
    x = np.random.default_rng(0).standard_normal(graph.inputs[0].shape).astype(np.float32)
    for label, options in CONFIGS.items():
        assert passes(graph, [x], options), label


def test_the_ablation_table_keeps_the_digits_of_a_model_under_a_millisecond() -> None:
    from mlxa.studies.ablation import AblationRow, render_rows

    row = AblationRow("tiny", 1, 0.158, {"full": 0.00462, "-fusion": 0.00471}, 0.0108, True, ())
    line = render_rows([row]).splitlines()[2].split()
    assert line[:5] == ["tiny", "1", "0.158", "0.00462", "0.0108"]
    assert line[-2:] == ["0.43", "PASS"]
    big = AblationRow("big", 32, 108.934, {"full": 78.781}, None, False, ())
    assert render_rows([big]).splitlines()[2].split()[2:5] == ["108.93", "78.78", "n/a"]


def test_cli_refuses_an_unknown_case_in_one_line() -> None:
    assert_one_line_error(run_cli("kernels", "--case", "nope"), "unknown kernel case")
    assert_one_line_error(run_cli("kernels", "--ablation", "--batch", "x"), "--batch")


def test_cli_lists_kernels_and_cases() -> None:
    proc = run_cli("kernels", "--list")
    assert proc.returncode == 0, proc.stderr
    assert "depthwise_act" in proc.stdout and "bias_gelu" in proc.stdout


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_prepacked_linear_takes_the_bias_gelu_chain_as_its_epilogue() -> None:
    from mlxa.models.mlp import MLPConfig, mlp

    graph = mlp(MLPConfig(batch=4, in_features=32, hidden=64, out_features=16))
    m = compile_model(graph, CompileOptions(kernels=("prepack",)))
    assert m.kernel_plan.describe(m.program.graph) == [
        "%0 matmul -> linear_packed (+ fused %1)", "%2 matmul -> linear_packed (+ add %3)"]
    assert len(m.calls) == 2
    x = np.linspace(-8, 8, 4 * 32, dtype=np.float32).reshape(4, 32)
    assert passes(graph, [x], CompileOptions(kernels=("prepack",)))


def test_a_trial_keeps_the_faster_call() -> None:
    import time

    from mlxa.kernels.trial import keep_faster

    fast, slow = (lambda: None), (lambda: time.sleep(0.002))
    assert keep_faster(slow, "slow_kernel", fast).variant == "numpy"
    assert keep_faster(fast, "fast_kernel", slow).variant == "fast_kernel"


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("depthwise,attrs,act", [
    (False, {"strides": (2, 2)}, "clip"), (False, {"dilations": (2, 2)}, "relu"),
    (True, {}, "clip"), (False, {}, None)])
def test_prepacked_conv_with_its_post_op(depthwise: bool, attrs: dict, act: str | None) -> None:
    g = GraphBuilder("pc")
    x = g.input((2, 6, 9, 9))
    w = f32(6, 1, 3, 3) if depthwise else f32(4, 6, 3, 3)
    y = g.op("conv", x, g.param(w), g.param(f32(w.shape[0])), pads=(2, 2, 2, 2),
             group=6 if depthwise else 1, **attrs)
    if act == "clip":
        y = g.op("clip", y, min=0.0, max=6.0)
    elif act == "relu":
        y = g.op("relu", y)
    graph = g.build(y)
    assert chosen(graph, CompileOptions(kernels=("prepack",))) == ["conv_packed"]
    assert passes(graph, [f32(2, 6, 9, 9) * 3], CompileOptions(kernels=("prepack",)))


def test_a_case_study_reports_every_mlxa_row_within_the_oracle_bound() -> None:
    from mlxa.report.kernels_text import render_text
    from mlxa.studies.kernels import run_case

    result = run_case("conv1x1_relu6", budget_s=0.05, backends_on=())
    rows = {r.backend: r for r in result.rows}
    assert {"mlxa eager", "mlxa compiled", "mlxa + epilogue"} <= set(rows)
    for r in rows.values():
        assert r.error is not None and r.error <= result.oracle_bound, r
        assert r.best_ms and r.gb_per_s and r.gflop_per_s
    assert "conv_act" in rows["mlxa + epilogue"].kernel
    assert "conv1x1_relu6" in render_text([result])


# -- --kernels on the command line ---------------------------------------------------------------

def test_kernels_flag_refuses_an_unknown_name() -> None:
    for command in ("analyze", "roofline"):
        assert_one_line_error(run_cli(command, "--kernels", "numba,bogus"), "bogus")
    assert_one_line_error(run_cli("analyze", "--kernels", "none,numba"), "none stands alone")
    assert_one_line_error(run_cli("analyze", "--kernels", " , "), "empty")


def test_analyze_records_the_kernel_selection(tmp_path) -> None:
    import json

    for flag, want in (("none", []), ("numba,epilogue", ["numba", "epilogue"])):
        proc = run_cli("analyze", "--model", "small_cnn", "--budget", "0.2", "--quiet",
                       "--kernels", flag, "--out", str(tmp_path), "--name", "run")
        assert proc.returncode == 0, proc.stderr
        assert json.loads((tmp_path / "run.json").read_text())["config"]["kernels"] == want


def test_importing_mlxa_makes_idle_openmp_threads_sleep_unless_told_otherwise() -> None:
    import os
    import subprocess
    import sys

    code = "import os, mlxa; print(os.environ['OMP_WAIT_POLICY'])"
    for env, want in (({}, "PASSIVE"), ({"OMP_WAIT_POLICY": "ACTIVE"}, "ACTIVE")):
        base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env={**base, **env}, check=True).stdout.strip()
        assert out == want


# -- softmax_1pass and layer_norm_1pass row by row against float64 -------------------------------

ROW_WIDTHS = [1, 7, 128, 513, 1000]


def softmax_rows(cols: int) -> np.ndarray:
    """Rows of x for softmax: N(0, 3) values, values near float32's largest, a row with -inf
    entries, a row of -inf, one with +inf, one with a NaN, one of zeros (in-place arena reuse)."""
    x = (RNG.standard_normal((9, cols)) * 3).astype(np.float32)
    x[1] = x[1] * 1e37 if cols > 1 else 3e38
    x[2, ::3] = -np.inf
    x[3] = -np.inf
    x[4, cols // 2] = np.inf
    x[5, cols - 1] = np.nan
    x[6] = 0.0
    x[7] += 80.0  # past ln(FLT_MAX) before the max is taken off
    return x


def softmax_reference(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        x64 = x.astype(np.float64)
        e = np.exp(x64 - x64.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed (pip install 'mlxa[kernels]')")
@pytest.mark.parametrize("cols", ROW_WIDTHS)
@pytest.mark.parametrize("inplace", [False, True])
def test_softmax_loop_matches_float64_row_by_row(cols: int, inplace: bool) -> None:
    from mlxa.kernels.jit import bind_softmax

    x = softmax_rows(cols)
    want = softmax_reference(x)
    xin = x.reshape(3, 3, cols).copy()
    out = xin if inplace else np.full_like(xin, 7.0)
    bind_softmax([xin], [out], {"axis": -1}, None)()
    got = out.reshape(-1, cols)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    # float32 x - max is rounded (6e-8 of |x - max|, relative, once through the exp), then
    # exp, sum and scale add under 1e-6; exp's results below FLT_MIN are flushed to 0
    with np.errstate(invalid="ignore"):
        shift = np.abs(x.astype(np.float64) - x.max(axis=-1, keepdims=True))
    bound = (1e-6 + 1.2e-7 * np.nan_to_num(shift, posinf=0.0)) * want + 1.2e-38
    assert np.all(np.abs(got - want)[ok] <= bound[ok])
    finite = np.isfinite(x).all(axis=-1)
    assert np.allclose(got[finite].sum(axis=-1), 1.0, rtol=2e-6)


@pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed (pip install 'mlxa[kernels]')")
def test_softmax_loop_stays_within_1e6_of_float64_where_x_minus_max_is_exact() -> None:
    from mlxa.kernels.jit import bind_softmax

    # values on a 1/64 grid within 32 of each other: x - max is exact in float32
    x = (np.round(RNG.uniform(-16, 16, (1024, 128)) * 64) / 64).astype(np.float32)
    out = np.empty_like(x)
    bind_softmax([x], [out], {"axis": -1}, None)()
    want = softmax_reference(x)
    assert np.max(np.abs(out - want) / want) < 1e-6


def layer_norm_rows(cols: int) -> np.ndarray:
    """Rows for layer norm: offset N(5, 2) values, a constant row (variance 0), values near 1e30
    (float32 squares overflow), a NaN, an inf, zeros, large offset with small spread, +-1e37."""
    x = (RNG.standard_normal((9, cols)) * 2 + 5).astype(np.float32)
    x[1] = np.float32(0.1)
    x[2] = (RNG.standard_normal(cols) * 1e30).astype(np.float32)
    x[3, cols // 2] = np.nan
    x[4, 0] = np.inf
    x[5] = 0.0
    x[6] = (1000.0 + RNG.standard_normal(cols) * 1e-2).astype(np.float32)
    x[7, ::2], x[7, 1::2] = 1e37, -1e37  # squares past float64's float32 range too
    return x


def layer_norm_reference(x: np.ndarray, scale: np.ndarray, bias: np.ndarray,
                         eps: float) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        x64 = x.astype(np.float64)
        d = x64 - x64.mean(axis=-1, keepdims=True)
        return d / np.sqrt((d * d).mean(axis=-1, keepdims=True) + eps) * scale + bias


@pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed (pip install 'mlxa[kernels]')")
@pytest.mark.parametrize("cols", ROW_WIDTHS)
@pytest.mark.parametrize("inplace", [False, True])
def test_layer_norm_loop_matches_float64_row_by_row(cols: int, inplace: bool) -> None:
    from mlxa.kernels.jit import bind_layer_norm

    x = layer_norm_rows(cols)
    scale, bias = f32(cols), f32(cols)
    want = layer_norm_reference(x, scale, bias, 1e-5)
    xin = x.reshape(3, 3, cols).copy()
    out = xin if inplace else np.full_like(xin, 7.0)
    bind_layer_norm([xin, scale, bias], [out], {"epsilon": 1e-5}, None)()
    got = out.reshape(-1, cols)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    # against the output's scale (|scale| + |bias|): float32 rounding of x - mean, the product
    # and the sum
    size = np.abs(scale) + np.abs(bias)
    assert np.all(np.abs(got - want)[ok] <= (1e-6 * size * np.ones_like(want))[ok])
    np.testing.assert_array_equal(got[1], bias)  # a constant row: exactly the bias


@pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed (pip install 'mlxa[kernels]')")
def test_the_roofline_counts_the_scratch_a_numba_kernel_carves_not_the_op_tables() -> None:
    from mlxa.analysis.roofline_run import compiled_works

    g = GraphBuilder("dw")
    x = g.input((1, 8, 12, 12))
    y = g.op("conv", x, g.param(f32(8, 1, 5, 5)), g.param(f32(8)), group=8, pads=(2, 2, 2, 2))
    act = g.op("sigmoid", g.op("relu", y))
    graph = g.build(g.op("mul", act, g.op("tanh", act)))  # a fused chain after the conv
    model = compile_model(graph, NUMBA)
    works = {w.index: w for w in compiled_works(model)}
    conv_step = next(s for s, c in model.kernel_plan.choices.items()
                     if c.kernel.name == "depthwise_act")
    carved = model.kernel_scratch[conv_step]
    assert carved > 0 and works[conv_step].scratch_nbytes == carved
    assert carved != model.program.scratch[conv_step].nbytes
    chain = [s for s, c in model.kernel_plan.choices.items() if c.kernel.name == "chain_loop"]
    assert chain and all(model.kernel_scratch[s] == 0 for s in chain)


@pytest.mark.skipif(importlib.util.find_spec("llvmlite") is None or not HAS_NUMBA,
                    reason="llvmlite and numba needed")
@pytest.mark.parametrize("keep", ["conv_gemm", "conv_direct"])
def test_a_trial_counts_the_scratch_of_what_it_kept(keep: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """conv_gemm on a stem against conv_direct: whichever the trial keeps, the node's scratch
    is what that one carved, not the other's."""
    from mlxa.kernels import trial
    from mlxa.kernels.conv_direct import bind_direct
    from mlxa.kernels.conv_gemm import product
    from mlxa.kernels.generated import bound_with_scratch
    from mlxa.kernels.local import ThreadStack

    monkeypatch.setattr(trial, "faster", lambda a, b, *rest: keep == "conv_gemm")
    monkeypatch.setattr(trial, "_FORCED", ThreadStack())  # the trial decides, by `faster`
    g = GraphBuilder("stem")
    x = g.input((1, 3, 24, 24))
    w, b = f32(8, 3, 3, 3), f32(8)
    graph = g.build(g.op("conv", x, g.param(w), g.param(b), strides=(2, 2), pads=(1, 1, 1, 1)))
    model = compile_model(graph, CompileOptions(kernels=("all",)))
    (step, choice), = model.kernel_plan.choices.items()
    assert choice.kernel.name == "conv_gemm"
    assert model.kernel_lines() == ("%0 conv -> conv_gemm" + (
        "" if keep == "conv_gemm" else " [ran conv_direct]"),)
    ins = [np.zeros((1, 3, 24, 24), np.float32), w, b]
    out = np.zeros((1, 8, 12, 12), np.float32)
    attrs = {"strides": (2, 2), "pads": (1, 1, 1, 1)}
    if keep == "conv_gemm":  # the conv_gemm candidate: its own trial of orientations runs too
        assert model.kernel_scratch[step] in {sum(bound_with_scratch(
            lambda way=way: product(ins, out, attrs, None, way=way))[1])
            for way in ("along_pixels", "along_channels")}
    else:
        _, direct = bound_with_scratch(lambda: bind_direct(ins, [out], attrs, None))
        assert sum(direct) > 0 and model.kernel_scratch[step] == sum(direct)


@pytest.mark.skipif(importlib.util.find_spec("llvmlite") is None, reason="llvmlite missing")
@pytest.mark.parametrize("way", ["along_pixels", "along_channels", "winograd"])
def test_the_roofline_counts_the_scratch_of_the_vector_kernels(
        way: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """conv_gemm's padded input, and along the pixels the spill of its direct conv or its
    im2col band (carved), or Winograd's framed input, V and M, and nothing of the ways its
    trial dropped; depthwise_vector's
    zero row and sink (its own); not the scratch of the default its trial bound."""
    from mlxa.kernels import conv_gemm
    from mlxa.kernels.depthwise_ir import VL, run_vectors
    from mlxa.kernels.trial import forced

    names: dict[int, str] = {}
    named = conv_gemm._named

    def naming(bind, name):  # type: ignore[no-untyped-def]
        step, name = named(bind, name)
        names[id(step)] = name
        return step, name

    monkeypatch.setattr(conv_gemm, "_named", naming)
    # keeps the way asked where the conv has it, else the first (along the pixels)
    monkeypatch.setattr(conv_gemm, "faster",
                        lambda kept, new: names[id(kept)] == way or names[id(new)] != way)
    g = GraphBuilder("llvm")
    x = g.input((1, 8, 12, 12))
    y = g.op("conv", x, g.param(f32(8, 1, 3, 3)), g.param(f32(8)), group=8, pads=(1, 1, 1, 1))
    y = g.op("conv", g.op("relu", y), g.param(f32(6, 8, 3, 3)), pads=(1, 1, 1, 1))
    y = g.op("conv", y, g.param(f32(4, 6, 3, 3)), strides=(2, 2), pads=(1, 1, 1, 1))
    with forced():
        model = compile_model(g.build(y), CompileOptions(kernels=("llvm",)))
    chosen: dict[str, list[int]] = {}
    for s, c in sorted(model.kernel_plan.choices.items()):
        chosen.setdefault(c.kernel.name, []).append(s)
    # a row of zeros (the input's 12 columns) and a sink of a run of vectors
    nj = min(run_vectors(), 2)
    assert model.kernel_scratch[chosen["depthwise_vector"][0]] == 4 * (12 + nj * VL)
    direct, strided = chosen["conv_gemm"]
    if way == "winograd":  # the framed input (8 x 14 x 14), V and M (16 x 8 and 16 x 6 rows of
        # 36 tiles); the strided conv has no Winograd: along the pixels, as below
        assert model.kernel_scratch[direct] == 4 * (8 * 14 * 14 + 16 * (8 + 6) * 36)
        assert model.kernel_scratch[strided] == 4 * (6 * 13 * 13 + 54 * 6 * 6)
        return
    if way == "along_channels":  # the padded inputs alone: (8 x 14 x 14) and (6 x 13 x 13)
        assert model.kernel_scratch[direct] == 4 * 8 * 14 * 14
        assert model.kernel_scratch[strided] == 4 * 6 * 13 * 13
        return
    # the padded input (8 x 14 x 14) and the output over the plane's whole rows (6 x 12 x 14)
    assert model.kernel_scratch[direct] == 4 * (8 * 14 * 14 + 6 * 12 * 14)
    # the padded input (6 x 13 x 13: the last window ends at row 13) and one im2col band of
    # 54 x 6 columns per output row, all 6 rows
    assert model.kernel_scratch[strided] == 4 * (6 * 13 * 13 + 54 * 6 * 6)


def test_each_thread_binds_with_its_own_selection_recording_and_forcing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two threads inside their own blocks at once (a sweep's workers compiling two models):
    each sees its own kernel selection, its own scratch recording and its own forcing."""
    import threading

    from mlxa.kernels import trial
    from mlxa.kernels.generated import count, recording
    from mlxa.kernels.registry import binding, in_use

    monkeypatch.setattr(trial, "faster", lambda a, b, *rest: False)  # the default wins
    barrier = threading.Barrier(2, timeout=30)
    seen: dict[str, tuple] = {}

    def bind(key: str, selection: tuple[str, ...], nbytes: int, force: bool) -> None:
        with binding(selection), recording() as carved:
            with trial.forced() if force else contextlib.nullcontext():
                barrier.wait()  # both threads inside their blocks
                count(nbytes)
                kept = trial.against_default(lambda: print, "candidate",
                                             lambda: (print, "default")).variant
                barrier.wait()
                seen[key] = (in_use("conv_act"), kept)
        seen[key] += (carved,)

    threads = [threading.Thread(target=bind, args=("a", ("conv_act",), 8, True)),
               threading.Thread(target=bind, args=("b", ("numba",), 16, False))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen["a"] == (True, "candidate", [8])
    assert seen["b"] == (False, "default", [16])
    assert in_use("conv_act")  # outside every block: installed is enough
