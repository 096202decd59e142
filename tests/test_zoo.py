"""The zoo: every model builds deterministically, the compiled executor matches eager, every
planner's plan is valid and no smaller than the lower bound, and the numbers agree with PyTorch
(outputs of an independently written torch twin, FLOPs from FlopCounterMode) and with ONNX
Runtime on the exported model. Full-size runs at batch 1; reduced sizes where a test repeats."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from mlxa.analysis.buffers import assign_buffers
from mlxa.analysis.cost import graph_cost
from mlxa.errors import UserInputError
from mlxa.ir.graph import Graph
from mlxa.models.zoo import ZOO, build, get_model
from mlxa.planners import PLANNERS, validate
from mlxa.runtime.compiled import compile_model
from mlxa.runtime.eager import EagerModel
from mlxa.verify import compare_outputs

NAMES = list(ZOO)
SMALL = {
    "mlp": {"in_features": 64, "hidden": 128, "out_features": 32},
    "transformer": {"seq": 16, "d_model": 64, "heads": 4, "d_ff": 128},
    "small_cnn": {"image": 16, "width": 8},
    "digits_cnn": {},  # trained weights, one size
    "mobilenet_v2": {"image": 64, "width_mult": 0.5, "classes": 10},
    "resnet18": {"image": 64, "width": 16, "classes": 10},
    "resnet50": {"image": 64, "width": 8, "classes": 10},
}
ALIGNMENT = 64


@functools.cache
def graph_of(name: str, batch: int = 1, small: bool = False) -> Graph:
    return build(name, batch=batch, **(SMALL[name] if small else {}))


def random_input(graph: Graph, seed: int = 0) -> np.ndarray:
    (x,) = graph.inputs
    return np.random.default_rng(seed).standard_normal(x.shape).astype(np.float32)


def assert_close(got: np.ndarray, want: np.ndarray, rtol: float = 1e-4) -> None:
    """Elementwise within rtol of the value or of the output's largest magnitude: float32 sums
    taken in a different order differ by a few ulps of the largest term, not of each element."""
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * float(np.abs(want).max()))


# -- the zoo itself ------------------------------------------------------------------------------

def test_registry_has_the_promised_models() -> None:
    assert {"mlp", "transformer", "mobilenet_v2", "resnet18", "resnet50",
            "small_cnn"} <= set(ZOO)
    for model in ZOO.values():
        assert model.description
        assert model.sizes or model.name == "digits_cnn"  # trained weights: one size only


@pytest.mark.parametrize("name", [n for n in NAMES if n != "digits_cnn"])  # trained: no draw
def test_weights_are_deterministic_in_the_seed(name: str) -> None:
    a, b, c = (build(name, seed=s, **SMALL[name]) for s in (0, 0, 1))
    pa, pb, pc = (list(g.params.values()) for g in (a, b, c))
    assert all(np.array_equal(x, y) for x, y in zip(pa, pb))
    assert not all(np.array_equal(x, y) for x, y in zip(pa, pc))


@pytest.mark.parametrize("name", ["small_cnn", "mobilenet_v2", "resnet18", "resnet50"])
def test_batch_norm_statistics_are_not_the_identity(name: str) -> None:
    graph = graph_of(name, small=True)
    norms = [n for n in graph.nodes if n.op == "batch_norm"]
    assert norms
    for node in norms:
        scale, bias, mean, var = (graph.params[v] for v in node.inputs[1:])
        assert np.abs(mean).min() > 0 and np.abs(bias).min() > 0
        assert not np.allclose(var, 1.0) and not np.allclose(scale, 1.0)


def test_unknown_model_and_size_are_user_errors() -> None:
    with pytest.raises(UserInputError, match="unknown model"):
        get_model("vgg")
    with pytest.raises(UserInputError, match="no size 'depth'"):
        build("resnet18", depth=3)


def test_sizes_change_the_graph() -> None:
    graph = build("transformer", batch=2, seq=8, d_model=32, heads=2, d_ff=48)
    assert graph.inputs[0].shape == (2, 8, 32) and graph.outputs[0].shape == (2, 8, 32)
    assert graph_of("small_cnn").outputs[0].shape == (1, 10)


# -- executors and planners ---------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_full_size_compiled_equals_eager(name: str) -> None:
    graph = graph_of(name)
    x = random_input(graph)
    eager = EagerModel(graph)(x)
    compiled = compile_model(graph)(x)
    check = compare_outputs(eager, compiled)
    assert check["passed"], check


@pytest.mark.parametrize("name", NAMES)
def test_small_batch_compiled_equals_eager_without_fusion_or_inplace(name: str) -> None:
    from mlxa.compiler import CompileOptions

    graph = graph_of(name, batch=2, small=True)
    x = random_input(graph, seed=3)
    eager = EagerModel(graph)(x)
    for options in (CompileOptions(fuse=False), CompileOptions(inplace=False)):
        check = compare_outputs(eager, compile_model(graph, options)(x))
        assert check["passed"], (options, check)


@pytest.mark.parametrize("name", ["small_cnn", "mobilenet_v2", "resnet18", "resnet50"])
def test_batch_norm_folding_removes_every_norm_and_keeps_the_output(name: str) -> None:
    from mlxa.compiler import CompileOptions

    graph = graph_of(name)
    x = random_input(graph, seed=4)
    compiled = compile_model(graph, CompileOptions(fold_bn=True))
    assert not any(n.op == "batch_norm" for n in compiled.program.graph.nodes)
    assert_close(compiled(x)[0], EagerModel(graph)(x)[0])


@pytest.mark.parametrize("name", NAMES)
def test_every_planner_is_valid_and_above_the_lower_bound(name: str) -> None:
    from mlxa.passes.fuse_elementwise import fuse_elementwise

    for graph in (graph_of(name), fuse_elementwise(graph_of(name))):
        assignment = assign_buffers(graph)
        buffers = assignment.arena_buffers
        bound = assignment.lower_bound(ALIGNMENT)
        for planner_name, planner in PLANNERS.items():
            plan = planner(buffers, ALIGNMENT)
            validate(buffers, plan, ALIGNMENT)
            assert plan.arena_nbytes >= bound, planner_name


@pytest.mark.parametrize("name", NAMES)
def test_models_command_row(name: str) -> None:
    from mlxa.cli.models_cmd import model_row

    row = model_row(name)
    graph = graph_of(name)
    assert row["flops"] == graph_cost(graph).flops > 0
    assert row["params"] == sum(a.size for a in graph.params.values())
    assert 0 < row["arena_lower_bound_nbytes"] <= row["activation_nbytes"]


def test_models_command_lists_every_model() -> None:
    from cli_helpers import run_cli  # type: ignore[import-not-found]

    result = run_cli("models")
    assert result.returncode == 0, result.stderr
    for name in NAMES:
        assert any(line.startswith(name + " ") for line in result.stdout.splitlines()), name


@pytest.mark.parametrize("name", NAMES)
def test_every_zoo_model_loads_from_the_command_line_options(name: str) -> None:
    from mlxa.cli.main import build_parser
    from mlxa.cli.model_args import load_model

    # the MLP keeps its own options (--hidden, --layers); every other model takes --size
    sizes = [] if name == "mlp" else [f"--size={k}={v}" for k, v in SMALL[name].items()]
    args = build_parser().parse_args(["show", "--model", name, "--batch", "2", *sizes])
    model = load_model(args)
    assert model.graph.inputs[0].shape[0] == 2
    assert model.inputs[0].shape == model.graph.inputs[0].shape
    assert model.info["name"] == name


@pytest.mark.parametrize("argv, needle", [
    (["--model", "resnet18", "--size", "width"], "expected KEY=VALUE"),
    (["--model", "resnet18", "--size", "depth=3"], "model resnet18 has no such size"),
    (["--model", "resnet18", "--size", "width=wide"], "expected int"),
    (["--model", "resnet18", "--size", "width=0"], "must be positive"),
    (["--model", "transformer", "--size", "heads=3"], "not a multiple of heads"),
    (["--model", "mlp", "--size", "hidden=8"], "the MLP takes --hidden"),
    (["--model", "small_cnn", "--torch", "pkg.mod:f"], "not both"),
    (["--model", "resnet50", "--batch", "1000000"], "memory available"),
])
def test_bad_zoo_options_are_user_errors(argv: list[str], needle: str) -> None:
    from mlxa.cli.main import build_parser
    from mlxa.cli.model_args import load_model

    with pytest.raises(UserInputError) as e:
        load_model(build_parser().parse_args(["show", *argv]))
    assert needle in str(e.value)


# -- against PyTorch ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_full_size_matches_the_torch_twin(name: str) -> None:
    torch = pytest.importorskip("torch")
    from torch_models import torch_twin

    graph = graph_of(name)
    x = random_input(graph)
    with torch.no_grad():
        want = torch_twin(name, graph, {})(torch.from_numpy(x)).numpy()
    assert_close(EagerModel(graph)(x)[0], want)


def matmul_conv_flops(graph: Graph) -> int:
    """FLOPs of the matrix products and convolutions only, 2 per multiply-add (no bias adds)."""
    total = 0
    for node, cost in zip(graph.nodes, graph_cost(graph).per_node):
        if node.op in ("conv", "gemm", "matmul"):
            has_bias = node.op != "matmul" and len(node.inputs) == 3
            total += cost.flops - (node.output.type.size if has_bias else 0)
    return total


@pytest.mark.parametrize("name", NAMES)
def test_flops_agree_with_torch_flop_counter(name: str) -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode
    from torch_models import torch_twin

    graph = graph_of(name, batch=2, small=True)
    twin = torch_twin(name, graph, SMALL[name])
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        twin(torch.from_numpy(random_input(graph)))
    assert matmul_conv_flops(graph) == counter.get_total_flops()


# -- against ONNX Runtime ------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_onnx_runtime_agrees_on_the_exported_model(name: str, tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    export = pytest.importorskip("mlxa.frontends.onnx_export")

    graph = graph_of(name, batch=2, small=True)
    path = tmp_path / f"{name}.onnx"
    onnx.save(export.to_onnx(graph), str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = random_input(graph, seed=5)
    (want,) = session.run(None, {session.get_inputs()[0].name: x})
    assert_close(EagerModel(graph)(x)[0], want)
