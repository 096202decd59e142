"""Small ONNX models built with onnx.helper, and running them three ways: ONNX Runtime, our eager
executor and our compiled executor (both through load_onnx)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

IR_VERSION = 10


def tensor_info(name: str, array: np.ndarray | None = None, shape: Sequence[Any] | None = None,
                dtype: Any = np.float32) -> Any:
    from onnx import helper

    if array is not None:
        shape, dtype = array.shape, array.dtype
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)),
                                         None if shape is None else list(shape))


def one_node_model(op: str, inputs: Sequence[np.ndarray | None],
                   consts: Mapping[int, np.ndarray] | None = None, n_outputs: int = 1,
                   opset: int = 18, domain: str = "", **attrs: Any) -> tuple[Any, dict]:
    """A model of one `op` node: inputs[k] is a graph input x{k} unless consts gives input k as an
    initializer; None leaves an optional input out. Returns (model, feeds)."""
    from onnx import helper, numpy_helper

    consts = dict(consts or {})
    names, graph_inputs, inits, feeds = [], [], [], {}
    for k in range(max(len(inputs), max(consts, default=-1) + 1)):
        array = consts.get(k, inputs[k] if k < len(inputs) else None)
        if array is None:
            names.append("")
            continue
        name = f"x{k}"
        names.append(name)
        if k in consts:
            inits.append(numpy_helper.from_array(np.asarray(array), name))
        else:
            graph_inputs.append(tensor_info(name, array))
            feeds[name] = array
    outputs = [f"y{k}" for k in range(n_outputs)]
    node = helper.make_node(op, names, outputs, domain=domain, name=f"{op.lower()}_node",
                            **attrs)
    graph = helper.make_graph([node], "one_node", graph_inputs,
                              [helper.make_empty_tensor_value_info(o) for o in outputs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              ir_version=IR_VERSION)
    return model, feeds


def run_ort(model: Any, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, dict(feeds))


def run_ours(model: Any, feeds: Mapping[str, np.ndarray]
             ) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """(eager outputs, compiled outputs) of the imported model on the same feeds."""
    from mlxa.compiler import CompileOptions
    from mlxa.frontends.onnx_import import load_onnx
    from mlxa.runtime.compiled import compile_model
    from mlxa.runtime.eager import EagerModel

    shapes = {k: v.shape for k, v in feeds.items()}
    graph = load_onnx(model, shapes)
    inputs = [feeds[vi.name] for vi in model.graph.input if vi.name in feeds]
    eager = tuple(np.array(a) for a in EagerModel(graph)(*inputs))
    # the op table's kernels: conformance is about the ops; custom kernels (whose products sum
    # in another order) are judged by the oracle in test_kernels.py
    compiled = tuple(np.array(a) for a in compile_model(graph, CompileOptions(kernels=()))(*inputs))
    return eager, compiled


def assert_matches_ort(model: Any, feeds: Mapping[str, np.ndarray], rtol: float = 1e-5,
                       atol: float = 1e-5) -> None:
    """ORT == eager (within tolerance), and compiled == eager (within float rounding)."""
    expected = run_ort(model, feeds)
    eager, compiled = run_ours(model, feeds)
    assert len(eager) == len(expected)
    for want, got, comp in zip(expected, eager, compiled):
        assert got.shape == want.shape, (got.shape, want.shape)
        assert got.dtype == want.dtype, (got.dtype, want.dtype)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
        np.testing.assert_allclose(comp, got, rtol=1e-6, atol=1e-6)
