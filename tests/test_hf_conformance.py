"""Hugging Face families, built from tiny configs with random weights (tests/hf_models.py), each
imported two ways: through ONNX (torch.onnx.export, opset 17) and through torch.export
(mlxa.from_torch). mlxa's eager and compiled outputs must equal torch's: the reference is the
same module run by torch in float64; eager must be within EAGER_TOLERANCE of it (relative to the
output's scale) and compiled must PASS the correctness oracle against it."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("onnx")

from hf_models import FAMILIES

from mlxa.oracle import judge, relative_error
from mlxa.runtime.compiled import compile_model
from mlxa.runtime.eager import EagerModel

EAGER_TOLERANCE = 1e-4  # float32 against float64 over two layers: measured below 2e-6


def reference(module: torch.nn.Module, inputs: tuple) -> np.ndarray:
    """The module's output computed by torch in float64."""
    wide = copy.deepcopy(module).double().eval()
    args = tuple(x.double() if x.is_floating_point() else x for x in inputs)
    with torch.no_grad():
        return wide(*args).numpy()


def export_onnx(module: torch.nn.Module, inputs: tuple, path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, inputs, str(path), opset_version=17)
        except Exception:
            torch.onnx.export(module, inputs, str(path), opset_version=17, dynamo=False)
    module.eval()  # the exporter puts the module back in the mode it found, training or not


def assert_conforms(graph, inputs: tuple, want: np.ndarray) -> None:
    feeds = [x.numpy() for x in inputs]
    eager = [np.array(a) for a in EagerModel(graph)(*feeds)]
    compiled = [np.array(a) for a in compile_model(graph)(*feeds)]
    assert eager[0].shape == want.shape
    error = relative_error(eager[0], want)
    assert error <= EAGER_TOLERANCE, f"eager differs from torch by {error:.2e} of the scale"
    verdict = judge([want], eager[:1], compiled[:1])
    assert verdict.passed, verdict


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_through_onnx(family: str, tmp_path) -> None:
    from mlxa.frontends.onnx_import import load_onnx

    torch.manual_seed(0)
    module, inputs = FAMILIES[family]()
    path = tmp_path / f"{family}.onnx"
    export_onnx(module, inputs, path)
    assert_conforms(load_onnx(path), inputs, reference(module, inputs))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_through_torch_export(family: str) -> None:
    import mlxa

    torch.manual_seed(0)
    module, inputs = FAMILIES[family]()
    assert_conforms(mlxa.from_torch(module, inputs), inputs, reference(module, inputs))
