"""The fusion study's backends: one chain (studies/expr.py) run by each engine.

Each backend turns (expression, x, b) into a `Prepared`: a call with no arguments that computes
the chain once (its result kept, so nothing is optimized away), and the number of kernels it runs.
A backend whose library is missing or fails to compile raises Unavailable with a one-line note;
the study records the note and goes on. Optional libraries are imported inside their backend.

- numpy: op by op, each op allocating its result (eager numpy).
- torch: torch eager, op by op.
- mlxa: the chain as an IR graph, compiled (fused) and bound (runtime/compiled.py), every custom
  kernel on offer: one generated Numba loop (kernels/chain.py) where numba is installed.
- xla: jax.jit; kernels = the fusions and other kernels of the optimized HLO's entry computation.
- inductor: torch.compile; kernels = Inductor's generated-kernel count.
- ort: ONNX Runtime with every graph optimization; kernels = nodes of its optimized graph.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlxa.studies.expr import Call, Expr, Num, Var


class Unavailable(Exception):
    """This backend cannot run here; the message says why, in one line."""


@dataclass(frozen=True)
class Prepared:
    run: Callable[[], Any]
    kernels: int | None
    result: Callable[[], np.ndarray]  # the last run's output, as numpy


def evaluate(e: Expr, env: dict[str, Any], fns: dict[str, Callable[..., Any]],
             number: Callable[[float], Any]) -> Any:
    if isinstance(e, Var):
        return env[e.name]
    if isinstance(e, Num):
        return number(e.value)
    return fns[e.op](*(evaluate(a, env, fns, number) for a in e.args))


def kernel_count(e: Expr, per_op: dict[str, int]) -> int:
    if not isinstance(e, Call):
        return 0
    return per_op.get(e.op, 1) + sum(kernel_count(a, per_op) for a in e.args)


# -- numpy ---------------------------------------------------------------------------------------

def _np_fns() -> tuple[dict[str, Callable[..., Any]], dict[str, int]]:
    from mlxa.ops import get_op

    def sigmoid(a: Any) -> Any:
        return np.reciprocal(np.exp(np.negative(a)) + np.float32(1))

    def erf(a: Any) -> Any:
        return get_op("erf").kernel([a], None, {})[0]

    fns: dict[str, Callable[..., Any]] = {
        "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
        "pow": np.power, "max": np.maximum, "min": np.minimum, "neg": np.negative,
        "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs, "tanh": np.tanh,
        "reciprocal": np.reciprocal, "relu": lambda a: np.maximum(a, np.float32(0)),
        "sigmoid": sigmoid, "silu": lambda a: a * sigmoid(a), "erf": erf}
    return fns, {"sigmoid": 4, "silu": 5}


def numpy_backend(e: Expr, x: np.ndarray, b: np.ndarray, threads: int,
                  state: dict[str, Any]) -> Prepared:
    fns, per_op = _np_fns()
    env = {"x": x, "b": b}
    out: list[Any] = [None]

    def run() -> None:
        out[0] = evaluate(e, env, fns, np.float32)

    return Prepared(run, kernel_count(e, per_op), lambda: np.asarray(out[0]))


# -- mlxa ----------------------------------------------------------------------------------------

def to_graph(e: Expr, x_shape: tuple[int, ...], b: np.ndarray) -> Any:
    from mlxa.ir.builder import GraphBuilder

    g = GraphBuilder("chain")
    values: dict[Any, Any] = {"x": g.input(x_shape), "b": g.param(b)}

    def lower(node: Expr) -> Any:
        if isinstance(node, Var):
            return values[node.name]
        if isinstance(node, Num):
            key = ("num", node.value)
            if key not in values:
                values[key] = g.param(np.array(node.value, np.float32))
            return values[key]
        return g.op(node.op, *(lower(a) for a in node.args))

    return g.build(lower(e))


def mlxa_backend(e: Expr, x: np.ndarray, b: np.ndarray, threads: int,
                 state: dict[str, Any]) -> Prepared:
    from mlxa.compiler.options import CompileOptions
    from mlxa.runtime.compiled import compile_model

    # every custom kernel on offer: with numba installed, the fused group runs as one generated
    # loop (kernels/chain.py) where its bind-time trial finds it faster than the numpy blocks
    model = compile_model(to_graph(e, x.shape, b), CompileOptions(kernels=("all",)))
    (out,) = model(x)  # binds x into the program's input buffer once
    steps = tuple(call.run for call in model.calls)

    def run() -> None:
        # the compiled calls alone, as XLA's executable runs on its argument buffers: the
        # executor's per-call input copy would double the traffic the chain needs
        for step in steps:
            step()

    return Prepared(run, len(steps), lambda: np.array(out))


# -- torch eager and Inductor --------------------------------------------------------------------

def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise Unavailable("torch is not installed") from None
    return torch


def _torch_fns(torch: Any) -> dict[str, Callable[..., Any]]:
    f = torch.nn.functional
    return {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
            "pow": torch.pow, "max": torch.maximum, "min": torch.minimum, "neg": torch.neg,
            "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "abs": torch.abs,
            "tanh": torch.tanh, "reciprocal": torch.reciprocal, "relu": torch.relu,
            "sigmoid": torch.sigmoid, "silu": f.silu, "erf": torch.erf}


def _torch_number(torch: Any) -> Callable[[float], Any]:
    return lambda v: torch.tensor(v, dtype=torch.float32)


def torch_backend(e: Expr, x: np.ndarray, b: np.ndarray, threads: int,
                  state: dict[str, Any]) -> Prepared:
    torch = _torch()
    torch.set_num_threads(threads)
    fns, number = _torch_fns(torch), _torch_number(torch)
    env = {"x": torch.from_numpy(x), "b": torch.from_numpy(b)}
    out: list[Any] = [None]

    def run() -> None:
        with torch.no_grad():
            out[0] = evaluate(e, env, fns, number)

    return Prepared(run, kernel_count(e, {}), lambda: out[0].numpy())


def inductor_backend(e: Expr, x: np.ndarray, b: np.ndarray, threads: int,
                     state: dict[str, Any]) -> Prepared:
    torch = _torch()
    torch.set_num_threads(threads)
    fns = _torch_fns(torch)
    try:
        from torch._inductor import metrics
    except ImportError:
        raise Unavailable("torch has no Inductor") from None

    def chain(xt: Any, bt: Any) -> Any:
        return evaluate(e, {"x": xt, "b": bt}, fns, lambda v: v)

    # one compile per chain, shape-generic (dynamic), reused at every size: Inductor compiles C++
    if "inductor" not in state:
        state["inductor"] = torch.compile(chain, dynamic=True)
    compiled = state["inductor"]
    xt, bt = torch.from_numpy(x), torch.from_numpy(b)
    metrics.reset()
    try:
        with torch.no_grad():
            compiled(xt, bt)
    except Exception as err:  # a C++ compiler missing or failing is a note, not a crash
        raise Unavailable(f"torch.compile failed: {type(err).__name__}: "
                          f"{' '.join(str(err).split())[:160]}") from None
    kernels = int(metrics.generated_kernel_count) or state.get("inductor_kernels")
    state["inductor_kernels"] = kernels  # None: every kernel came from Inductor's cache
    out: list[Any] = [None]

    def run() -> None:
        with torch.no_grad():
            out[0] = compiled(xt, bt)

    return Prepared(run, kernels, lambda: out[0].numpy())


# -- XLA -----------------------------------------------------------------------------------------

def xla_backend(e: Expr, x: np.ndarray, b: np.ndarray, threads: int,
                state: dict[str, Any]) -> Prepared:
    from mlxa.compare.xla import single_thread_xla

    single_thread_xla(threads)
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        raise Unavailable("jax is not installed") from None
    fns: dict[str, Callable[..., Any]] = {
        "add": jnp.add, "sub": jnp.subtract, "mul": jnp.multiply, "div": jnp.divide,
        "pow": jnp.power, "max": jnp.maximum, "min": jnp.minimum, "neg": jnp.negative,
        "exp": jnp.exp, "log": jnp.log, "sqrt": jnp.sqrt, "abs": jnp.abs, "tanh": jnp.tanh,
        "reciprocal": jnp.reciprocal, "relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid,
        "silu": jax.nn.silu, "erf": jax.scipy.special.erf}

    def chain(xj: Any, bj: Any) -> Any:
        return evaluate(e, {"x": xj, "b": bj}, fns, lambda v: jnp.float32(v))

    xj, bj = jnp.asarray(x), jnp.asarray(b)
    compiled = jax.jit(chain).lower(xj, bj).compile()
    out: list[Any] = [None]

    def run() -> None:
        out[0] = compiled(xj, bj).block_until_ready()

    return Prepared(run, hlo_kernels(compiled.as_text() or ""), lambda: np.asarray(out[0]))


_NOT_KERNELS = ("parameter", "constant", "tuple", "get-tuple-element", "bitcast")


def hlo_kernels(hlo: str) -> int:
    """Instructions of the ENTRY computation that run code: fusions, custom calls, copies."""
    count, inside = 0, False
    for line in hlo.splitlines():
        if line.startswith("ENTRY"):
            inside = True
            continue
        if inside and line.startswith("}"):
            break
        if inside and "=" in line:
            rhs = line.split("=", 1)[1].split()
            op = rhs[1].split("(")[0] if len(rhs) > 1 else ""
            count += op not in _NOT_KERNELS
    return count


# -- ONNX Runtime --------------------------------------------------------------------------------

_ONNX = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow", "max": "Max",
         "min": "Min", "neg": "Neg", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "abs": "Abs",
         "tanh": "Tanh", "reciprocal": "Reciprocal", "relu": "Relu", "sigmoid": "Sigmoid",
         "erf": "Erf"}


def to_onnx(e: Expr, x_shape: tuple[int, ...], b: np.ndarray) -> Any:
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits = [numpy_helper.from_array(b, "b")]
    names: dict[float, str] = {}

    def lower(node: Expr) -> str:
        if isinstance(node, Var):
            return node.name
        if isinstance(node, Num):
            if node.value not in names:
                names[node.value] = f"c{len(names)}"
                inits.append(numpy_helper.from_array(np.array(node.value, np.float32),
                                                     names[node.value]))
            return names[node.value]
        args = [lower(a) for a in node.args]
        out = f"t{len(nodes)}"
        if node.op == "silu":
            nodes.append(helper.make_node("Sigmoid", args, [out + "s"]))
            nodes.append(helper.make_node("Mul", [args[0], out + "s"], [out]))
        else:
            nodes.append(helper.make_node(_ONNX[node.op], args, [out]))
        return out

    result = lower(e)
    graph = helper.make_graph(nodes, "chain",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info(result, TensorProto.FLOAT, x_shape)],
                              inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def ort_backend(e: Expr, x: np.ndarray, b: np.ndarray, threads: int,
                state: dict[str, Any]) -> Prepared:
    try:
        import onnx
        import onnxruntime as ort
    except ImportError:
        raise Unavailable("onnx / onnxruntime are not installed") from None
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.log_severity_level = 3  # its notes on saving an optimized model are not ours
    with tempfile.TemporaryDirectory() as tmp:
        options.optimized_model_filepath = os.path.join(tmp, "optimized.onnx")
        session = ort.InferenceSession(to_onnx(e, x.shape, b).SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        kernels = len(onnx.load(options.optimized_model_filepath).graph.node)
    out: list[Any] = [None]

    def run() -> None:
        out[0] = session.run(None, {"x": x})[0]

    return Prepared(run, kernels, lambda: np.asarray(out[0]))


# name -> (kind, preparer), in the order the study runs and prints them
Preparer = Callable[[Expr, np.ndarray, np.ndarray, int, dict[str, Any]], Prepared]
BACKENDS: dict[str, tuple[str, Preparer]] = {
    "numpy": ("eager", numpy_backend),
    "torch": ("eager", torch_backend),
    "mlxa": ("jit", mlxa_backend),
    "xla": ("jit", xla_backend),
    "inductor": ("jit", inductor_backend),
    "ort": ("jit", ort_backend),
}
