"""Models as a real exporter writes them: torch.onnx.export (TorchScript exporter) of a small
transformer encoder and a MobileNet-style CNN, with dynamic axes. The importer must fold the
shape arithmetic the exporter emits and match PyTorch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from mlxa.compiler import CompileOptions
from mlxa.frontends.onnx_import import load_onnx
from mlxa.runtime.compiled import compile_model
from mlxa.runtime.eager import EagerModel


class Encoder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(50, 32)
        self.layer = torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
        self.norm = torch.nn.LayerNorm(32)
        self.head = torch.nn.Linear(32, 5)

    def forward(self, ids):
        return self.head(self.norm(self.layer(self.embed(ids))).mean(1))


def mobile_cnn() -> torch.nn.Module:
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU6(),
        nn.Conv2d(8, 8, 3, 1, 1, groups=8), nn.BatchNorm2d(8), nn.Hardswish(),
        nn.MaxPool2d(3, 2, 1, ceil_mode=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(8, 4), nn.Softmax(-1))


@pytest.mark.parametrize("make, example, name, axes", [
    (Encoder, lambda: torch.randint(0, 50, (2, 7)), "ids", {0: "batch", 1: "seq"}),
    (mobile_cnn, lambda: torch.randn(1, 3, 32, 32), "x", {0: "N"}),
], ids=["encoder", "mobile-cnn"])
def test_torch_exported_model_matches_torch(tmp_path, make, example, name, axes) -> None:
    torch.manual_seed(0)
    module, x = make().eval(), example()
    path = tmp_path / "model.onnx"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (x,), str(path), input_names=[name],
                              dynamic_axes={name: axes}, opset_version=17, dynamo=False)
    except Exception as e:
        pytest.skip(f"torch.onnx.export unavailable: {e}")
    with torch.no_grad():
        want = module(x).numpy()
    graph = load_onnx(path, {name: tuple(x.shape)})
    assert not {"shape", "cast"} & {n.op for n in graph.nodes}
    got = EagerModel(graph)(x.numpy())[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    table = CompileOptions(kernels=())  # bit for bit: the op table's kernels, planned
    np.testing.assert_array_equal(compile_model(graph, table)(x.numpy())[0], got)
