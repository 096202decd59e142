"""Six classic CNN architectures with trained-looking weights (tests/real_cnns.py), exported by
torch.onnx.export and imported as a user would: mlxa's eager and compiled executors agree with
ONNX Runtime, the correctness oracle passes them, and the old element-wise rule fails on three
of them although nothing is wrong (logits near zero in outputs of magnitude 4e2 to 2e5, with
batch norms folded into the convs).

Measured (seed 0; errors relative to the output's scale against float64, in float32 eps):
eager 0.9 to 11 eps, compiled/eager 0.64 to 1.39; both within 2e-6 of ONNX Runtime."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import real_cnns
from executors import compiled_outputs

from mlxa.frontends.onnx_import import load_onnx
from mlxa.ir.graph import Graph
from mlxa.oracle import Verdict, check, judge, reference_outputs, relative_error
from mlxa.runtime.eager import EagerModel
from mlxa.verify import compare_outputs

NAMES = list(real_cnns.ARCHITECTURES)
WITH_BATCH_NORM = ["densenet121", "inception_v2", "resnet50", "shufflenet"]
OLD_RULE_FAILS = ["densenet121", "resnet50", "shufflenet"]  # by 3x to 200x its atol (measured)
ORT_AGREEMENT = 1e-5  # of the output's scale; measured at most 1.8e-6


@dataclass(frozen=True)
class Run:
    """One architecture exported, imported and run every way."""

    path: Path
    graph: Graph
    x: np.ndarray
    ort: np.ndarray
    eager: np.ndarray
    compiled: np.ndarray
    verdict: Verdict
    old_rule_passed: bool


def run_architecture(name: str, folder: Path) -> Run:
    module, x = real_cnns.build(name)
    path = real_cnns.export(module, x, folder / f"{name}.onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    (want,) = session.run(None, {"x": x})
    graph = load_onnx(path)
    eager = tuple(np.array(a) for a in EagerModel(graph)(x))
    compiled = compiled_outputs(graph, [x])
    return Run(path, graph, x, want, eager[0], compiled[0], check(graph, [x], eager, compiled),
               bool(compare_outputs(eager, compiled)["passed"]))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Run]:
    """Each architecture run once for the whole module, on first use."""
    done: dict[str, Run] = {}

    def get(name: str) -> Run:
        if name not in done:
            done[name] = run_architecture(name, tmp_path_factory.mktemp(name))
        return done[name]

    return get


@pytest.mark.parametrize("name", NAMES)
def test_export_is_what_onnx_runtime_loads(runs, name: str) -> None:
    model = onnx.load(runs(name).path)
    assert model.ir_version <= 13 and model.opset_import[0].version == real_cnns.OPSET
    has_batch_norm = any(n.op_type == "BatchNormalization" for n in model.graph.node)
    assert has_batch_norm == (name in WITH_BATCH_NORM)
    assert has_batch_norm == any(n.op == "batch_norm" for n in runs(name).graph.nodes)


@pytest.mark.parametrize("name", NAMES)
def test_logits_look_real(runs, name: str) -> None:
    """Magnitude near the architecture's logit scale, with some logits near zero."""
    logits = runs(name).ort
    scale = float(np.abs(logits).max())
    assert real_cnns.ARCHITECTURES[name].logit_scale / 2 < scale < 2 * \
        real_cnns.ARCHITECTURES[name].logit_scale
    assert float(np.abs(logits).min()) < 0.01 * scale


@pytest.mark.parametrize("name", NAMES)
def test_eager_and_compiled_match_onnx_runtime(runs, name: str) -> None:
    run = runs(name)
    assert relative_error(run.eager, run.ort) < ORT_AGREEMENT
    assert relative_error(run.compiled, run.ort) < ORT_AGREEMENT


@pytest.mark.parametrize("name", NAMES)
def test_oracle_passes(runs, name: str) -> None:
    verdict = runs(name).verdict
    assert verdict.passed, verdict
    (out,) = verdict.outputs
    assert out.dtype == "float32" and out.shape == (2, real_cnns.CLASSES)


@pytest.mark.parametrize("name", OLD_RULE_FAILS)
def test_the_old_element_wise_rule_cries_wolf(runs, name: str) -> None:
    run = runs(name)
    assert not run.old_rule_passed and run.verdict.passed


@pytest.mark.parametrize("name", NAMES)
def test_one_logit_off_fails(runs, name: str) -> None:
    """The logit nearest zero moved by 1e-4 of the output's scale."""
    run = runs(name)
    off = run.compiled.copy()
    flat = off.reshape(-1)
    flat[np.argmin(np.abs(flat))] += np.float32(1e-4 * np.abs(run.ort).max())
    assert not judge(reference_outputs(run.graph, [run.x]), [run.eager], [off]).passed
