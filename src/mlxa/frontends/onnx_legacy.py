"""What upgrading a model from before opset 7 needs beyond onnx's version converter.

Before opset 7, PRelu's slope of shape [C] applies per channel (axis 1: "legacy" broadcasting);
from opset 7 on it broadcasts numpy-style from the last axis, and onnx's converter leaves the
slope as it was, so the upgraded model would scale the wrong axis (or fail to broadcast).
`per_channel_prelu` rewrites each such slope, when it is an initializer, to [C, 1, ..., 1] for
its input's rank before the upgrade. `upgraded` also records the shapes onnx can infer:
the converter's adapters for some old ops (Gemm's legacy broadcast) need their inputs' shapes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

LEGACY_BROADCAST_BEFORE = 7


def upgraded(model: Any, opset: int, target: int) -> Any:
    """The model converted from `opset` to `target` by onnx's version converter, with shapes
    inferred first (where onnx can) and, before opset 7, the per-channel PRelu slopes
    reshaped. Below opset 6 it goes to 6 first: onnx infers few shapes of the oldest ops."""
    from onnx import version_converter

    if opset < 6:
        model, opset = version_converter.convert_version(_inferred(model), 6), 6
    model = _inferred(model)
    if opset < LEGACY_BROADCAST_BEFORE:
        model = per_channel_prelu(model)
    return version_converter.convert_version(model, target)


def _inferred(model: Any) -> Any:
    from onnx import shape_inference

    try:
        return shape_inference.infer_shapes(model)
    except Exception:  # an old model onnx cannot infer: as it is
        return model


def per_channel_prelu(model: Any) -> Any:
    """A copy of `model` (an opset < 7 ModelProto) with per-channel PRelu slopes reshaped."""
    from onnx import numpy_helper

    fixed = type(model)()
    fixed.CopyFrom(model)
    graph = fixed.graph
    initializers = {t.name: t for t in graph.initializer}
    ranks = _ranks(fixed)
    for k, node in enumerate(graph.node):
        if node.op_type != "PRelu" or len(node.input) != 2 or node.input[1] not in initializers:
            continue
        slope = numpy_helper.to_array(initializers[node.input[1]])
        rank = ranks.get(node.input[0], 4)
        if slope.ndim != 1 or slope.size == 1 or rank < 3:
            continue
        name = f"{node.input[1]}__per_channel_{k}"
        shaped = np.ascontiguousarray(slope.reshape((slope.size,) + (1,) * (rank - 2)))
        graph.initializer.append(numpy_helper.from_array(shaped, name))
        if fixed.ir_version < 4:  # IR 3: every initializer is also a graph input
            from onnx import helper

            graph.input.append(helper.make_tensor_value_info(
                name, initializers[node.input[1]].data_type, list(shaped.shape)))
        node.input[1] = name
    return fixed


def _ranks(model: Any) -> dict[str, int]:
    """The rank of every value whose shape the model declares or onnx can infer."""
    graph = _inferred(model).graph
    ranks = {}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        tt = vi.type.tensor_type
        if vi.type.WhichOneof("value") == "tensor_type" and tt.HasField("shape"):
            ranks[vi.name] = len(tt.shape.dim)
    return ranks
