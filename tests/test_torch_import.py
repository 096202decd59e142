"""The PyTorch importer: torch.export of the zoo's torch twins (and of a module using many other
ops) imports to graphs whose eager output equals torch's; unsupported ops are listed together;
the command line's --torch reports a bad factory in one line."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cli_helpers import ROOT, assert_one_line_error, run_cli
from test_zoo import NAMES, SMALL, assert_close, graph_of, matmul_conv_flops
from torch import nn
from torch.nn import functional as F
from torch_models import torch_twin

from mlxa import from_torch
from mlxa.errors import UnsupportedOpError, UserInputError
from mlxa.runtime.compiled import compile_model
from mlxa.runtime.eager import EagerModel


def run_both(module: nn.Module, *inputs: torch.Tensor) -> tuple[list, list]:
    """(torch eager outputs, mlxa eager outputs of the imported graph), as numpy."""
    graph = from_torch(module, inputs)
    with torch.no_grad():
        want = module(*inputs)
    want = [want] if isinstance(want, torch.Tensor) else list(want)
    got = EagerModel(graph)(*(t.numpy() for t in inputs))
    return [t.numpy() for t in want], list(got)


@pytest.mark.parametrize("name", NAMES)
def test_imported_twin_equals_torch_eager_and_costs_the_same(name: str) -> None:
    graph = graph_of(name, batch=2, small=True)
    twin = torch_twin(name, graph, SMALL[name])
    x = torch.from_numpy(np.random.default_rng(1).standard_normal(graph.inputs[0].shape)
                         .astype(np.float32))
    imported = from_torch(twin, (x,))
    with torch.no_grad():
        want = twin(x).numpy()
    assert_close(EagerModel(imported)(x.numpy())[0], want)
    assert matmul_conv_flops(imported) == matmul_conv_flops(graph)


def test_full_size_resnet50_import_compiles_and_matches() -> None:
    graph = graph_of("resnet50")
    twin = torch_twin("resnet50", graph, {})
    x = torch.from_numpy(np.random.default_rng(2).standard_normal((1, 3, 224, 224))
                         .astype(np.float32))
    imported = from_torch(twin, (x,))
    with torch.no_grad():
        want = twin(x).numpy()
    assert_close(compile_model(imported)(x.numpy())[0], want)


class ManyOps(nn.Module):
    """Ops the twins do not use: padding modes, pools with ceil mode, split/cat/slice/select,
    attention, embedding, clamps and scalar arithmetic."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding="same", groups=1)
        self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=2, dilation=2, groups=8)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 12)
        self.ln = nn.LayerNorm(12, elementwise_affine=False)
        self.emb = nn.Embedding(10, 2)
        with torch.no_grad():
            self.bn.running_mean.uniform_(-1, 1)
            self.bn.running_var.uniform_(0.5, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = F.hardswish(self.bn(self.dw(self.conv(x))))
        y = F.relu6(F.max_pool2d(y, 3, 2, 1, ceil_mode=True))
        y = F.pad(y, (1, 2, 0, 1), mode="replicate")
        y = F.avg_pool2d(F.pad(y, (1, 1, 1, 1)), 2, count_include_pad=False)
        y = torch.flatten(F.adaptive_avg_pool2d(y, 1), 1)
        y = self.ln(F.gelu(self.fc(y)))
        a, b = y.split(6, dim=1)
        z = torch.cat([a * b, a.softmax(-1), F.hardsigmoid(a), torch.rsqrt(b * b + 1),
                       a.clamp(min=-0.1), -b, 2 - F.leaky_relu(a, 0.2), F.silu(b).sigmoid()], 1)
        q = z[:, :24].reshape(2, 2, -1, 2)
        att = F.scaled_dot_product_attention(q, q, q, is_causal=True)
        tokens = self.emb(torch.tensor([[1, 3, 5, 7, 9, 0]]))
        back = tokens.transpose(0, 1).transpose(0, 1)
        out = att[:, 1] + att.mean(dim=1) + back.sum(-1, keepdim=True)
        return out.unsqueeze(0) / 3, torch.tanh(z).pow(2).sqrt().t()


def test_many_ops_match_torch() -> None:
    torch.manual_seed(0)
    want, got = run_both(ManyOps().eval(), torch.randn(2, 3, 11, 11))
    for g, w in zip(got, want, strict=True):
        assert_close(g, w)


def test_training_mode_is_restored_and_batch_norm_uses_running_stats() -> None:
    module = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)).train()
    with torch.no_grad():
        module[1].running_mean.fill_(0.5)
    x = torch.randn(1, 3, 4, 4)
    graph = from_torch(module, x)
    assert module.training
    with torch.no_grad():
        want = module.eval()(x).numpy()
    assert_close(EagerModel(graph)(x.numpy())[0], want)


def test_unsupported_ops_are_listed_together() -> None:
    class Odd(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cummax(x, 0)[0] + torch.sort(x)[0] + torch.flip(x, (0,))

    with pytest.raises(UnsupportedOpError) as e:
        from_torch(Odd(), torch.randn(5))
    for op in ("aten.cummax", "aten.sort", "aten.flip"):
        assert op in str(e.value)


def test_data_dependent_control_flow_is_a_user_error() -> None:
    class Branchy(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x if x.sum() > 0 else -x

    with pytest.raises(UserInputError, match="torch.export could not capture Branchy"):
        from_torch(Branchy(), torch.randn(3))


def test_importing_mlxa_does_not_import_torch() -> None:
    code = "import sys, mlxa, mlxa.cli.main; mlxa.from_torch; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT / "src")}, check=True)
    assert out.stdout.strip() == "False"


FACTORIES = textwrap.dedent("""
    import torch
    from torch import nn

    def pair():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), (torch.randn(3, 4),)

    def with_attribute():
        module = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten())
        module.example_inputs = torch.randn(1, 1, 5, 5)
        return module

    def broken():
        raise RuntimeError("no weights here")

    def wrong():
        return 42

    class Branchy(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    def branchy():
        return Branchy(), (torch.randn(3),)
""")


@pytest.fixture
def factories(tmp_path):
    (tmp_path / "my_factories.py").write_text(FACTORIES)
    return tmp_path


@pytest.mark.parametrize("spec", ["my_factories:pair", "my_factories:with_attribute"])
def test_cli_torch_factory_runs(factories, spec: str) -> None:
    result = run_cli("analyze", "--torch", spec, "--repeat", "2", "--warmup", "0",
                     "--out", str(factories / "reports"), cwd=factories)
    assert result.returncode == 0, result.stderr
    assert "Correctness Check: PASS" in result.stdout


@pytest.mark.parametrize("spec, needle", [
    ("nowhere.at_all:f", "cannot import nowhere.at_all"),
    ("my_factories:broken", "the factory raised RuntimeError: no weights here"),
    ("my_factories:branchy", "torch.export could not capture Branchy"),
])
def test_cli_torch_factory_errors_are_one_line(factories, spec: str, needle: str) -> None:
    assert_one_line_error(run_cli("show", "--torch", spec, cwd=factories), needle)


@pytest.mark.parametrize("spec, needle", [
    ("my_factories:missing", "has no callable 'missing'"),
    ("my_factories:wrong", "must return (module, example_inputs)"),
    ("my_factories", "expected package.module:factory"),
    ("my_factories:pair:", "has no callable 'pair:'"),
])
def test_bad_factories_are_user_errors(factories, monkeypatch, spec: str, needle: str) -> None:
    from mlxa.cli.torch_source import call_factory

    monkeypatch.syspath_prepend(str(factories))
    with pytest.raises(UserInputError) as e:
        call_factory(spec)
    assert needle in str(e.value)
