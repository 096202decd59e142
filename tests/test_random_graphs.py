"""Property tests over random graphs of the core ops: every planner's plan is valid and no
smaller than the bound, the compiled executor computes what the eager one does, and the arena it
allocates is the planned one with every intermediate inside it."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlxa.analysis.buffers import assign_buffers
from mlxa.compiler import CompileOptions
from mlxa.ir.builder import GraphBuilder
from mlxa.ir.graph import Graph, Value
from mlxa.passes.fuse_elementwise import fuse_elementwise
from mlxa.planners import PLANNERS, lower_bound, validate
from mlxa.runtime.compiled import compile_model
from mlxa.runtime.eager import EagerModel

UNARY = [("relu", {}), ("gelu", {"approximate": "tanh"}), ("gelu", {"approximate": "none"}),
         ("silu", {}), ("sigmoid", {}), ("tanh", {})]
BINARY = ["add", "sub", "mul"]
WIDTHS = [1, 3, 8, 33]


@st.composite
def random_graphs(draw: st.DrawFn) -> Graph:
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    batch = draw(st.sampled_from([1, 2, 5]))
    b = GraphBuilder("random")
    pool: list[Value] = [b.input((batch, draw(st.sampled_from(WIDTHS))))]
    for _ in range(draw(st.integers(1, 12))):
        x = pool[draw(st.integers(0, len(pool) - 1))]
        kind = draw(st.sampled_from(["unary", "binary", "bias", "matmul", "reshape"]))
        if kind == "unary":
            op, attrs = draw(st.sampled_from(UNARY))
            pool.append(b.op(op, x, **attrs))
        elif kind == "binary":
            same = [v for v in pool if v.shape == x.shape]
            y = same[draw(st.integers(0, len(same) - 1))]
            pool.append(b.op(draw(st.sampled_from(BINARY)), x, y))
        elif kind == "reshape":  # a view: compiled, it shares its input's buffer
            pool.append(b.op("reshape", x, shape=x.shape[::-1]))
        elif kind == "bias":
            bias = b.param(rng.standard_normal(x.shape[-1:]).astype(np.float32))
            pool.append(b.op("add", x, bias))
        else:
            w = rng.standard_normal((x.shape[-1], draw(st.sampled_from(WIDTHS))))
            pool.append(b.op("matmul", x, b.param((w / np.sqrt(x.shape[-1])).astype(np.float32))))
    n_out = draw(st.integers(1, min(2, len(pool) - 1)))
    return b.build(*pool[-n_out:])


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(random_graphs(), st.booleans())
def test_every_plan_is_valid_and_above_the_bound(graph: Graph, fuse: bool) -> None:
    g = fuse_elementwise(graph) if fuse else graph
    for inplace in (False, True):
        buffers = assign_buffers(g, inplace=inplace).arena_buffers
        bound = lower_bound(buffers, 64)
        for name, planner in PLANNERS.items():
            plan = planner(buffers, 64)
            validate(buffers, plan, 64)
            assert plan.arena_nbytes >= bound, name


@SETTINGS
@given(random_graphs(), st.sampled_from(sorted(PLANNERS)), st.booleans(), st.booleans())
def test_compiled_equals_eager(graph: Graph, planner: str, fuse: bool, inplace: bool) -> None:
    x = np.random.default_rng(0).standard_normal(graph.inputs[0].shape).astype(np.float32)
    want = EagerModel(graph)(x)
    # the op table's kernels: this is about planning, fusion and in-place, bit for bit or nearly
    compiled = compile_model(graph, CompileOptions(planner=planner, fuse=fuse, inplace=inplace,
                                                   kernels=()))
    for _ in range(2):  # a second call sees the arena as the first call left it
        got = compiled(x)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@SETTINGS
@given(random_graphs())
def test_measured_arena_is_the_planned_one(graph: Graph) -> None:
    compiled = compile_model(graph)
    assert compiled.arena.nbytes == compiled.program.plan.arena_nbytes
    assert compiled.arena.nbytes == 0 or compiled.arena.ctypes.data % 64 == 0
    lo = compiled.arena.ctypes.data
    hi = lo + compiled.arena.nbytes
    for v, b in compiled.program.assignment.buffer_of.items():
        view = compiled.views[v]
        if compiled.program.assignment.is_output[b]:
            assert not np.shares_memory(view, compiled.arena)
        else:
            assert lo <= view.ctypes.data and view.ctypes.data + view.nbytes <= hi
