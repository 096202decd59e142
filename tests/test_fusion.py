"""mlxa fusion: the --expr grammar refuses hostile text; every function is an elementwise op of
the op table that each backend maps; mlxa fuses each built-in chain into one kernel; a missing
backend is a note, not a crash; XLA's kernels counted from HLO text."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ceilings_fake import fake_clock
from cli_helpers import assert_one_line_error, run_cli

from mlxa.errors import UserInputError
from mlxa.ir.graph import TensorType
from mlxa.ops import get_op
from mlxa.studies import fusion_backends
from mlxa.studies.expr import FUNCTIONS, count_ops, parse, show
from mlxa.studies.fusion import CHAINS, StudyConfig, flops_per_element, run_study

HOSTILE = ["__import__('os').system('true')", "x.__class__", "x; import os", "lambda: x",
           "exec('x')", "x if x else b", "[x]", "x @ b", "open('f')", "eval(x)", "x[0]",
           "y + 1", "exp(x", "x +", ")x(", "1e999 * x", "b + 1", "x", "relu(x, x)",
           "max(x)", "é + x", "x\n+ x", "(" * 60 + "x" + ")" * 60, "x" + " + x" * 80,
           "x" * 500, "", "   "]


@pytest.mark.parametrize("text", HOSTILE)
def test_expr_refuses_hostile_text(text):
    with pytest.raises(UserInputError):
        parse(text)


@pytest.mark.parametrize("name,label,text", CHAINS)
def test_builtin_chains_parse_and_print_stably(name, label, text):
    tree = parse(text)
    assert parse(show(tree)) == tree
    assert count_ops(tree) >= 2


def test_precedence():
    assert show(parse("-x ** 2 + b * 3 / x")) == "(neg((x ** 2.0)) + ((b * 3.0) / x))"


def test_every_function_is_an_elementwise_op_every_backend_maps():
    fns, _ = fusion_backends._np_fns()
    onnx_ops = set(fusion_backends._ONNX) | {"silu"}
    for name, (op, _) in FUNCTIONS.items():
        assert get_op(op).elementwise, name
        assert op in fns and op in onnx_ops, name
    assert {"add", "sub", "mul", "div", "pow", "neg"} <= set(fns) & onnx_ops


def test_flops_per_element_from_the_op_table():
    assert flops_per_element(parse("relu(x + b)")) == 2
    one = TensorType.of((1,))
    assert flops_per_element(parse("silu(x) * 2")) == get_op("silu").flops([one], [one], {}) + 1


def test_study_fuses_each_chain_into_one_kernel():
    config = StudyConfig(sizes=(16 << 10,), backends=("numpy", "mlxa"), min_trials=2,
                         size_budget_s=0.0)
    runs, skipped = run_study(CHAINS, config, clock=fake_clock())
    assert not skipped
    for chain, (_, _, text) in zip(runs, CHAINS):
        (size,) = chain.sizes
        numpy_cell, mlxa_cell = size.cell("numpy"), size.cell("mlxa")
        assert mlxa_cell.kernels == 1
        assert numpy_cell.kernels >= count_ops(parse(text)) - 2  # numbers fold into ops
        assert mlxa_cell.max_error < 1e-5 and numpy_cell.max_error < 1e-5
        assert size.traffic_nbytes >= 2 * size.x_nbytes
        assert size.copy_fraction(mlxa_cell) > 0 and size.ratio("numpy", "mlxa") > 0


def test_a_missing_backend_is_skipped_with_a_note(monkeypatch):
    def missing(*args):
        raise fusion_backends.Unavailable("not installed here")

    def broken(*args):
        raise RuntimeError("lowering\nfailed")

    monkeypatch.setitem(fusion_backends.BACKENDS, "xla", ("jit", missing))
    monkeypatch.setitem(fusion_backends.BACKENDS, "ort", ("jit", broken))
    config = StudyConfig(sizes=(16 << 10, 32 << 10), backends=("numpy", "xla", "ort"),
                         min_trials=1, size_budget_s=0.0)
    runs, skipped = run_study(CHAINS[:1], config, clock=fake_clock())
    assert [(s.backend, s.note) for s in skipped] == [
        ("xla", "not installed here"), ("ort", "failed: RuntimeError: lowering failed")]
    assert all(s.cell("xla") is None and s.cell("ort") is None and s.cell("numpy")
               for s in runs[0].sizes)


HLO = """HloModule jit_chain

fused_computation {
  p0 = f32[8,1024]{1,0} parameter(0)
  ROOT m = f32[8,1024]{1,0} maximum(p0, p0)
}

ENTRY main {
  x = f32[8,1024]{1,0} parameter(0)
  b = f32[1024]{0} parameter(1)
  c = f32[] constant(0)
  f = f32[8,1024]{1,0} fusion(x, b), kind=kLoop, calls=fused_computation
  ROOT t = (f32[8,1024]{1,0}) tuple(f)
}
"""


def test_hlo_kernel_count():
    assert fusion_backends.hlo_kernels(HLO) == 1


def test_backends_agree_where_installed():
    x = np.linspace(-3, 3, 4 * 1024, dtype=np.float32).reshape(4, 1024)
    b = np.linspace(-0.5, 0.5, 1024, dtype=np.float32)
    expected = None
    for key in ("numpy", "mlxa", "torch", "ort"):
        try:
            prepared = fusion_backends.BACKENDS[key][1](parse(CHAINS[2][2]), x, b, 1, {})
        except fusion_backends.Unavailable:
            continue
        prepared.run()
        y = prepared.result()
        expected = y if expected is None else expected
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_fusion_command_refuses_hostile_expr():
    assert_one_line_error(run_cli("fusion", "--expr", "__import__('os')"), "--expr")
    assert_one_line_error(run_cli("fusion", "--sizes", "1T"), "--sizes")
    assert_one_line_error(run_cli("fusion", "--backends", "numpy,cuda"), "--backends")


def test_fusion_command_json():
    proc = run_cli("fusion", "--only-expr", "--expr", "x * tanh(x + b)", "--sizes", "16K",
                   "--backends", "numpy,mlxa", "--budget", "0.01", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    (chain,) = data["chains"]
    assert chain["name"] == "custom"
    assert [c["backend"] for c in chain["sizes"][0]["cells"]] == ["numpy", "mlxa"]
