"""An INT8 matrix product through ONNX Runtime's MatMulInteger (its MLAS kernels use VNNI/AMX
where the CPU has them). Imported only where ONNX Runtime is installed."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx  # noqa: F401  (ImportError here: the caller reports the library missing)
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def matmul_integer_session(n: int, threads: int = 0) -> Callable[[], object]:
    """A call that multiplies an n x n uint8 input by an n x n int8 weight into int32."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.integers(-64, 64, (n, n), dtype=np.int8), "w")
    node = helper.make_node("MatMulInteger", ["a", "w"], ["y"])
    graph = helper.make_graph([node], "int8_peak",
                              [helper.make_tensor_value_info("a", TensorProto.UINT8, [n, n])],
                              [helper.make_tensor_value_info("y", TensorProto.INT32, [n, n])],
                              [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    a = rng.integers(0, 128, (n, n), dtype=np.uint8)
    return lambda: session.run(None, {"a": a})
