"""The IR lowered to a JAX function, compiled by XLA, and XLA's own memory figures.

Lowering: one rule per op of the op table (compare/xla_rules.py), written with jax.numpy /
jax.lax to the op's meaning (ONNX attributes, NCHW / OIHW convolutions with groups, pooling
windows with ceil_mode and count_include_pad). Matrix products and convolutions ask for full
float32 precision. The lowering is checked by comparing the compiled function's outputs with our
eager executor's (`check_lowering`).

Parameters are baked into the program as constants, as a deployed executable holds its weights:
XLA then relayouts them at compile time. Passed as arguments instead, every weight's relayouted
copy (OIHW to the layout of XLA's CPU convolution) lands in XLA's temp, which then counts about
all the weights again (ResNet-18: 58 MB instead of 14 MB) rather than activations.

XLA's figures come from `compiled.memory_analysis()`: `temp` is its arena for intermediates
(after its own fusion, layout assignment and buffer assignment), `argument` the inputs, `output`
the results.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlxa.errors import UnsupportedOpError
from mlxa.ir.graph import Graph, Value
from mlxa.ops.table import Attrs

Rule = Callable[[list[Any], Attrs, Sequence[Value]], Any]
# XLA sums convolutions and matrix products in another order than numpy's BLAS: over ResNet-50's
# depth float32 outputs then differ by up to about 1e-5, above verify's float32 atol of 1e-6.
RTOL, ATOL = 1e-4, 5e-5


def single_thread_xla(threads: int | None) -> None:
    """XLA's CPU pool to one thread when `threads` is 1, for --threads 1 comparisons. XLA reads
    XLA_FLAGS once, when JAX starts: after that (or when the user set the flag) this changes
    nothing."""
    import os
    import sys

    if "jax" in sys.modules or threads != 1:
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if "intra_op_parallelism_threads" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1").strip()

@dataclass(frozen=True)
class XlaMemory:
    """XLA's memory analysis of one compiled graph, in bytes. `temp_nbytes` counts intermediates
    (and XLA's scratch) only; inputs, outputs and the constant weights are counted apart."""

    temp_nbytes: int
    input_nbytes: int
    output_nbytes: int
    alias_nbytes: int


def to_jax(graph: Graph) -> Callable[..., tuple[Any, ...]]:
    """f(*inputs, *params) -> outputs, params in the order of graph.params."""
    rules = lowering_rules()
    missing = sorted({n.op for n in graph.nodes} - set(rules))
    if missing:
        raise UnsupportedOpError(f"no JAX lowering for: {', '.join(missing)}")
    sources = tuple(graph.inputs) + tuple(graph.params)

    def f(*args: Any) -> tuple[Any, ...]:
        env = dict(zip(sources, args))
        for node in graph.nodes:
            result = rules[node.op]([env[v] for v in node.inputs], node.attrs, node.outputs)
            env.update(zip(node.outputs, result if len(node.outputs) > 1 else (result,)))
        return tuple(env[v] for v in graph.outputs)

    return f


def compile_xla(graph: Graph, inputs: Sequence[np.ndarray]) -> Any:
    """jax.jit's compiled executable of the graph for these input shapes, weights as constants."""
    import jax

    f = to_jax(graph)
    params = tuple(graph.params.values())
    return jax.jit(lambda *xs: f(*xs, *params)).lower(*inputs).compile()


def xla_memory(compiled: Any) -> XlaMemory:
    m = compiled.memory_analysis()
    return XlaMemory(m.temp_size_in_bytes, m.argument_size_in_bytes, m.output_size_in_bytes,
                     m.alias_size_in_bytes)


def check_lowering(graph: Graph, inputs: Sequence[np.ndarray],
                   compiled: Any = None) -> dict[str, Any]:
    """The compiled JAX function's outputs against our eager executor's, within RTOL, ATOL."""
    from mlxa.runtime.eager import EagerModel
    from mlxa.verify import compare_outputs

    compiled = compiled if compiled is not None else compile_xla(graph, inputs)
    want = tuple(np.array(a) for a in EagerModel(graph)(*inputs))
    got = tuple(np.asarray(o).astype(w.dtype) for o, w in zip(compiled(*inputs), want))
    result = compare_outputs(want, got)
    passed = all(g.shape == w.shape and np.allclose(g.astype(np.float64), w.astype(np.float64),
                                                    rtol=RTOL, atol=ATOL)
                 for g, w in zip(got, want))
    return {**result, "passed": passed and len(got) == len(want), "rtol": RTOL, "atol": ATOL}


@functools.cache
def lowering_rules() -> dict[str, Rule]:
    """op name -> rule(args, attrs, outputs); built on first use, so JAX loads only then."""
    from mlxa.compare import xla_rules

    return xla_rules.rules()
