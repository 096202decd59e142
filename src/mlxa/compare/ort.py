"""ONNX Runtime on the same graph: export it, open a session at ORT_ENABLE_ALL, and run it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mlxa.ir.graph import Graph


def ort_runner(graph: Graph, inputs: tuple[np.ndarray, ...],
               threads: int | None = None) -> Callable[[], Any] | None:
    """A zero-argument call running the graph in ONNX Runtime, or None without onnxruntime."""
    try:
        import onnxruntime as ort

        from mlxa.frontends.onnx_export import to_onnx
    except ImportError:
        return None
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(to_onnx(graph).SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    feed = {i.name: x for i, x in zip(session.get_inputs(), inputs)}
    return lambda: session.run(None, feed)
