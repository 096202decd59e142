"""The bound after each compiler step: named in order, never rising on the zoo, and equal to what
the pieces compute on their own. In-place sharing and reordering can never raise it; fusion can,
when a chain's nodes lie far apart (pinned below), and then the number shows it."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import HealthCheck, given, settings
from random_dags import random_dags

from mlxa.analysis.bound_steps import STEPS, bound_steps
from mlxa.analysis.buffers import assign_buffers
from mlxa.ir.graph import Graph, GraphBuilder
from mlxa.models.mlp import MLPConfig, mlp
from mlxa.models.zoo import ZOO, build

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def values(steps: tuple[tuple[str, int], ...]) -> list[int]:
    assert tuple(name for name, _ in steps) == STEPS
    return [n for _, n in steps]


@SETTINGS
@given(random_dags())
def test_inplace_and_reordering_never_raise_the_bound(graph: Graph) -> None:
    written, inplace, fused, reordered = values(bound_steps(graph))
    assert written >= inplace
    assert fused >= reordered


def test_bound_steps_never_rise_on_the_zoo() -> None:
    for name in ZOO:
        steps = values(bound_steps(build(name)))
        assert all(a >= b for a, b in itertools.pairwise(steps)), (name, steps)


def test_the_first_steps_are_the_plain_and_tflite_bounds() -> None:
    g = mlp(MLPConfig(batch=4, in_features=8, hidden=64, out_features=8))
    steps = dict(bound_steps(g))
    assert steps["as written"] == assign_buffers(g, inplace=False).lower_bound(64)
    assert steps["in-place"] == assign_buffers(g, single_consumer=True).lower_bound(64)
    # matmul -> add -> gelu: the add and the gelu write over the hidden buffer in place,
    # then fusion removes the add's result: one hidden buffer of 4 x 64 floats is left
    assert steps["+ fusion"] == steps["+ reordering"] == 4 * 64 * 4


def test_a_chain_fused_far_from_its_start_raises_the_bound_and_reordering_undoes_it() -> None:
    """add(lo, hi) ... relu: the fused node runs where the relu was, so lo and hi (2 x 128 B)
    stay alive across the big matmul instead of their sum (128 B)."""
    b = GraphBuilder("far-chain")
    x = b.input((1, 64))
    lo, hi = b.op_multi("split", x, axis=-1, sizes=(32, 32))
    s = b.op("add", lo, hi)
    t = b.op("matmul", x, b.param(np.ones((64, 256), np.float32)))
    y = b.op("matmul", t, b.param(np.ones((256, 8), np.float32)))
    steps = dict(bound_steps(b.build(b.op("relu", s), y)))
    assert steps["+ fusion"] == steps["in-place"] + 128
    # the relu writes over s in place and is a graph output, so s lives outside the arena and
    # t (256 floats) is alone at the peak
    assert steps["+ reordering"] == steps["in-place"] == 256 * 4
