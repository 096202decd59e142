"""The other compilers on one small IR graph, for the kernel case studies: XLA (jax.jit, weights
as constants), Inductor (torch.compile of the graph lowered to torch ops) and ONNX Runtime (the
exported graph, ORT_ENABLE_ALL). Each returns a zero-argument call and a reader of its output,
or raises Unavailable with a one-line reason (not installed, or failed to compile here)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mlxa.ir.graph import Graph

Runner = tuple[Callable[[], object], Callable[[], np.ndarray]]


class Unavailable(Exception):
    """A backend that cannot run here; the message says why, in one line."""


def xla(graph: Graph, inputs: Sequence[np.ndarray], threads: int) -> Runner:
    from mlxa.compare.xla import single_thread_xla

    single_thread_xla(threads)
    try:
        import jax.numpy as jnp

        from mlxa.compare.xla import compile_xla
    except ImportError:
        raise Unavailable("jax is not installed") from None
    compiled = compile_xla(graph, inputs)
    args = [jnp.asarray(x) for x in inputs]
    out: list[Any] = [None]

    def run() -> None:
        out[0] = compiled(*args)[0].block_until_ready()

    return run, lambda: np.asarray(out[0])


def ort(graph: Graph, inputs: Sequence[np.ndarray], threads: int) -> Runner:
    from mlxa.compare.ort import ort_runner

    call = ort_runner(graph, tuple(inputs), threads)
    if call is None:
        raise Unavailable("onnxruntime is not installed")
    out: list[Any] = [None]

    def run() -> None:
        out[0] = call()[0]

    return run, lambda: np.asarray(out[0])


def inductor(graph: Graph, inputs: Sequence[np.ndarray], threads: int) -> Runner:
    try:
        import torch
    except ImportError:
        raise Unavailable("torch is not installed") from None
    torch.set_num_threads(threads)
    params = {v: torch.from_numpy(np.array(a)) for v, a in graph.params.items()}

    def f(*xs: Any) -> Any:
        env = {**params, **dict(zip(graph.inputs, xs))}
        for node in graph.nodes:
            env[node.output] = _torch_op(torch, node.op, [env[v] for v in node.inputs],
                                         node.attrs)
        return env[graph.outputs[0]]

    torch._dynamo.reset()  # one graph per case: past the recompile limit dynamo runs eager
    compiled = torch.compile(f)
    args = [torch.from_numpy(np.array(x)) for x in inputs]
    out: list[Any] = [None]
    try:
        with torch.no_grad():
            compiled(*args)
    except Exception as err:  # no C++ compiler, or Inductor fails here: a note, not a crash
        raise Unavailable(f"torch.compile failed: {type(err).__name__}: "
                          f"{' '.join(str(err).split())[:160]}") from None

    def run() -> None:
        with torch.no_grad():
            out[0] = compiled(*args)

    return run, lambda: out[0].numpy()


def _torch_op(torch: Any, op: str, a: list[Any], attrs: Any) -> Any:
    """The few ops the case studies use, as torch computes them."""
    f = torch.nn.functional
    if op == "conv":
        pads = attrs.get("pads", (0, 0, 0, 0))
        if pads[0] != pads[2] or pads[1] != pads[3]:
            raise Unavailable("asymmetric padding is not lowered to torch here")
        return f.conv2d(a[0], a[1], a[2] if len(a) > 2 else None, tuple(attrs.get("strides",
                        (1, 1))), (pads[0], pads[1]), tuple(attrs.get("dilations", (1, 1))),
                        attrs.get("group", 1))
    if op == "clip":
        return torch.clamp(a[0], attrs.get("min"), attrs.get("max"))
    if op == "relu":
        return torch.relu(a[0])
    if op == "add":
        return a[0] + a[1]
    if op == "gelu":
        return f.gelu(a[0], approximate=attrs.get("approximate", "none"))
    if op == "layer_norm":
        return f.layer_norm(a[0], a[0].shape[-1:], a[1], a[2] if len(a) > 2 else None,
                            attrs.get("epsilon", 1e-5))
    if op == "softmax":
        return torch.softmax(a[0], dim=attrs.get("axis", -1))
    raise Unavailable(f"no torch lowering for {op}")
