"""A hypothesis strategy for random branching graphs: values of several sizes, used by several
consumers, split and joined again, some left unused, so that program order matters for memory."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from mlxa.ir.builder import GraphBuilder
from mlxa.ir.graph import Graph, Value

UNARY = ["relu", "tanh", "sigmoid", "neg", "abs"]
BINARY = ["add", "sub", "mul", "max"]
WIDTHS = [2, 4, 16, 64, 256]


@st.composite
def random_dags(draw: st.DrawFn, max_nodes: int = 14) -> Graph:
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    batch = draw(st.sampled_from([1, 3]))
    b = GraphBuilder("dag")
    pool: list[Value] = [b.input((batch, draw(st.sampled_from(WIDTHS))))]
    for _ in range(draw(st.integers(1, max_nodes))):
        x = pool[draw(st.integers(0, len(pool) - 1))]
        kind = draw(st.sampled_from(["unary", "binary", "matmul", "split", "concat", "view"]))
        same = [v for v in pool if v.shape == x.shape]
        if kind == "unary":
            pool.append(b.op(draw(st.sampled_from(UNARY)), x))
        elif kind == "binary":
            y = same[draw(st.integers(0, len(same) - 1))]
            pool.append(b.op(draw(st.sampled_from(BINARY)), x, y))
        elif kind == "matmul":
            w = rng.standard_normal((x.shape[-1], draw(st.sampled_from(WIDTHS))))
            pool.append(b.op("matmul", x, b.param((w / x.shape[-1]).astype(np.float32))))
        elif kind == "view":  # a reshape: compiled, it shares its input's buffer
            pool.append(b.op("reshape", x, shape=x.shape[::-1]))
        elif kind == "split" and x.shape[-1] % 2 == 0:
            half = x.shape[-1] // 2
            pool.extend(b.op_multi("split", x, axis=-1, sizes=(half, half)))
        else:
            rows = [v for v in pool if v.shape[:-1] == x.shape[:-1]]
            y = rows[draw(st.integers(0, len(rows) - 1))]
            pool.append(b.op("concat", x, y, axis=-1))
    defined = pool[1:]
    n_out = draw(st.integers(1, min(3, len(defined))))
    outs = draw(st.lists(st.sampled_from(defined), min_size=n_out, max_size=n_out, unique=True))
    return b.build(*outs)


def random_input(graph: Graph) -> np.ndarray:
    return np.random.default_rng(1).standard_normal(graph.inputs[0].shape).astype(np.float32)
