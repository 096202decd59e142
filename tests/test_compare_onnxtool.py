"""onnx-tool's compressed memory of our exported graphs: a valid plan of every dynamic tensor, so
never below our bound of the same graph's intermediates without in-place sharing."""

from __future__ import annotations

import pytest

pytest.importorskip("onnx_tool")
pytest.importorskip("onnx")

from mlxa.analysis.buffers import assign_buffers
from mlxa.compare.onnxtool import onnx_tool_memory
from mlxa.models.zoo import build


@pytest.mark.parametrize("name, sizes", [("mlp", {"hidden": 256}), ("small_cnn", {}),
                                         ("resnet18", {"image": 64, "width": 16})])
def test_onnx_tool_plans_at_least_our_unshared_bound(name: str, sizes: dict) -> None:
    g = build(name, batch=2, **sizes)
    result = onnx_tool_memory(g)
    assert result.warnings == ()
    assert result.compressed_nbytes >= assign_buffers(g, inplace=False).lower_bound(64)
