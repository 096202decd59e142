"""The bound after each compiler step: read from the pipeline's own graphs, named in order, never
rising on the zoo, op scratch counted at every step, and equal to what the pieces compute on
their own. In-place sharing and reordering can never raise it; fusion can, when a chain's nodes
lie far apart (pinned below), and then the number shows it."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import HealthCheck, given, settings
from random_dags import random_dags

from mlxa.analysis.bound_steps import AS_WRITTEN, IN_PLACE, arena_bound
from mlxa.analysis.buffers import assign_buffers
from mlxa.compiler import CompileOptions, compile_program
from mlxa.ir.builder import GraphBuilder
from mlxa.ir.graph import Graph
from mlxa.models.mlp import MLPConfig, mlp
from mlxa.models.zoo import ZOO, build

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(random_dags())
def test_steps_start_as_written_and_end_at_the_arenas_bound(graph: Graph) -> None:
    program = compile_program(graph, CompileOptions(reorder=True))
    names = [name for name, _ in program.bound_steps]
    assert names[0] == AS_WRITTEN and names[-1] == IN_PLACE
    assert set(names[1:-1]) <= set(program.options.pass_names())
    assert program.bound_steps[-1][1] == program.lower_bound_nbytes
    # in-place sharing never raises the bound of the graph it shares buffers in
    assert program.lower_bound_nbytes <= arena_bound(program.graph, 64, inplace=False)


@SETTINGS
@given(random_dags())
def test_reordering_never_raises_the_final_bound(graph: Graph) -> None:
    plain = compile_program(graph).lower_bound_nbytes
    assert compile_program(graph, CompileOptions(reorder=True)).lower_bound_nbytes <= plain


def test_bound_steps_never_rise_on_the_zoo() -> None:
    for name in ZOO:
        steps = [n for _, n in compile_program(build(name)).bound_steps]
        assert all(a >= b for a, b in itertools.pairwise(steps)), (name, steps)


def test_each_step_is_the_plain_bound_of_that_graph_with_scratch() -> None:
    g = build("small_cnn", batch=1)
    steps = dict(compile_program(g).bound_steps)
    scratchless = assign_buffers(g, inplace=False).lower_bound(64)
    assert steps[AS_WRITTEN] == arena_bound(g, 64, inplace=False) >= scratchless


def test_mlp_steps() -> None:
    g = mlp(MLPConfig(batch=4, in_features=8, hidden=64, out_features=8))
    steps = dict(compile_program(g).bound_steps)
    assert "fold_batch_norm" not in steps  # nothing to fold: the pass changed nothing
    # matmul -> add -> gelu: the add and the gelu write over the hidden buffer in place,
    # then fusion removes the add's result: one hidden buffer of 4 x 64 floats is left
    assert steps[IN_PLACE] == 4 * 64 * 4 < steps[AS_WRITTEN]


def test_a_chain_fused_far_from_its_start_raises_the_bound_and_reordering_undoes_it() -> None:
    """add(lo, hi) ... relu: the fused node runs where the relu was, so lo and hi (2 x 128 B)
    stay alive across the big matmul instead of their sum (128 B)."""
    b = GraphBuilder("far-chain")
    x = b.input((1, 64))
    lo, hi = b.op_multi("split", x, axis=-1, sizes=(32, 32))
    s = b.op("add", lo, hi)
    t = b.op("matmul", x, b.param(np.ones((64, 256), np.float32)))
    y = b.op("matmul", t, b.param(np.ones((256, 8), np.float32)))
    graph = b.build(b.op("relu", s), y)
    steps = dict(compile_program(graph, CompileOptions(reorder=True)).bound_steps)
    assert steps["fuse_elementwise"] == steps[AS_WRITTEN] + 128
    assert steps["reorder_for_memory"] <= steps[AS_WRITTEN] < steps["fuse_elementwise"]
