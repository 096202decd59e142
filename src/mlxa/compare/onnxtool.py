"""onnx-tool's memory figure for our graph: the graph exported to ONNX (frontends.onnx_export),
shapes inferred by onnx-tool, then its `Graph.compress_memory(size_padding=64)`.

What onnx-tool counts: every dynamic tensor of the ONNX graph (graph inputs, graph outputs and
intermediates; no weights), each padded to 64 bytes, placed by its own first-fit over the node
order and freed after its last consumer, with no in-place sharing. The result is a plan's size,
not a bound. The exported graph is unfused (fused nodes are expanded back into their steps).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from mlxa.errors import MlxaError
from mlxa.ir.graph import Graph

PADDING = 64


class OnnxToolUnavailable(MlxaError):
    """onnx-tool (or onnx, for the export) is not installed."""


@dataclass(frozen=True)
class OnnxToolMemory:
    """onnx-tool's compressed activation memory (inputs, outputs and intermediates) in bytes,
    and the warnings its own plan validation raised (an overlap or a wrong total)."""

    compressed_nbytes: int
    warnings: tuple[str, ...] = ()


def onnx_tool_memory(graph: Graph) -> OnnxToolMemory:
    try:
        import onnx_tool
    except ImportError:
        raise OnnxToolUnavailable("onnx-tool is not installed: pip install 'mlxa[onnxtool]'") \
            from None
    from mlxa.frontends.onnx_export import to_onnx

    model = onnx_tool.Model(to_onnx(graph), {"verbose": False})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.graph.shape_infer()
        _, nbytes = model.graph.compress_memory(size_padding=PADDING)
    return OnnxToolMemory(int(nbytes), tuple(str(w.message) for w in caught))
