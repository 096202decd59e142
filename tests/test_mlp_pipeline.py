"""The seed MLP through the pipeline: printed IR, fusion, in-place, plan, executors, measurement."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from mlxa.analysis.buffers import assign_buffers
from mlxa.analysis.lifetimes import lifetimes
from mlxa.cli.show_cmd import show_text
from mlxa.compiler import CompileOptions
from mlxa.errors import UserInputError
from mlxa.ir.printer import format_graph
from mlxa.models.mlp import MLPConfig, load_weights, mlp, mlp_weights
from mlxa.ops import memory
from mlxa.passes.fuse_elementwise import fuse_elementwise, fusion_groups
from mlxa.planners import PLANNERS, validate
from mlxa.profile.memory import measure_memory
from mlxa.runtime.compiled import compile_model
from mlxa.runtime.eager import EagerModel

SMALL = MLPConfig(batch=2, in_features=8, hidden=16, out_features=4, layers=2)


def test_printed_graph_golden(golden) -> None:
    g = mlp(SMALL)
    groups = {i: k for k, grp in enumerate(fusion_groups(g)) for i in grp}
    golden("mlp_small.txt", format_graph(g, lifetimes(g), groups=groups) + "\n")


def test_show_golden(golden) -> None:
    golden("mlp_small_show.txt", show_text(mlp(SMALL)) + "\n")


def test_fusion_makes_one_group_per_hidden_layer() -> None:
    g = mlp(SMALL)
    assert len(fusion_groups(g)) == SMALL.layers
    fused = fuse_elementwise(g)
    assert [n.op for n in fused.nodes].count("fused") == SMALL.layers
    assert len(fused.nodes) == len(g.nodes) - SMALL.layers


def test_lifetimes_are_half_open_and_outputs_live_to_the_end() -> None:
    g = mlp(SMALL)
    life = lifetimes(g)
    for i, node in enumerate(g.nodes):
        start, end = life.intervals[node.output]
        assert start == i < end
    assert life.intervals[g.outputs[0]][1] == len(g.nodes)


def test_default_mlp_arena_is_one_hidden_buffer() -> None:
    compiled = compile_model(mlp(MLPConfig(batch=32)))
    assert compiled.program.lower_bound_nbytes == 32 * 4096 * 4 == 524_288
    assert compiled.program.plan.arena_nbytes == 524_288
    assert compiled.arena.nbytes == compiled.program.plan.arena_nbytes


def test_inplace_and_fusion_each_lower_the_bound() -> None:
    g = mlp(MLPConfig(batch=4))
    unfused = assign_buffers(g, inplace=False).lower_bound(64)
    fused = assign_buffers(fuse_elementwise(g), inplace=False).lower_bound(64)
    both = assign_buffers(fuse_elementwise(g), inplace=True).lower_bound(64)
    assert unfused >= fused > both == 4 * 4096 * 4


@pytest.mark.parametrize("activation", ["gelu", "gelu_exact", "relu", "swish"])
@pytest.mark.parametrize("planner", sorted(PLANNERS))
def test_optimized_equals_eager(activation, planner) -> None:
    config = MLPConfig(batch=3, in_features=64, hidden=256, out_features=32, layers=2,
                       activation=activation)
    g = mlp(config)
    x = np.random.default_rng(1).standard_normal((3, 64)).astype(np.float32)
    (want,) = EagerModel(g)(x)
    # planning, in-place and fusion reorder nothing: bit for bit with the op table's kernels
    compiled = compile_model(g, CompileOptions(planner=planner, kernels=()))
    validate(compiled.program.assignment.arena_buffers, compiled.program.plan, 64)
    (got,) = compiled(x)
    np.testing.assert_array_equal(got, want)


def test_optimized_inference_allocates_no_tensor_memory() -> None:
    compiled = compile_model(mlp(MLPConfig(batch=32)))
    x = np.ones((32, 1024), np.float32)
    compiled(x)
    stats = measure_memory(lambda: compiled(x))
    assert stats.allocations == 0 and stats.allocated_nbytes == 0
    # numpy's broadcasting iterator keeps one small buffer; no tensor (>= 128 KiB) appears
    assert stats.peak_traced_nbytes < 64 * 1024


def test_eager_inference_allocates_every_result() -> None:
    g = mlp(MLPConfig(batch=32))
    eager = EagerModel(g)
    x = np.ones((32, 1024), np.float32)
    eager(x)
    stats = measure_memory(lambda: eager(x))
    assert stats.allocations >= len(g.nodes)
    assert stats.peak_traced_nbytes >= 2 * 32 * 4096 * 4  # two hidden tensors alive at once


def test_arena_allocation_is_the_planned_size() -> None:
    """Measured at compile time by tracemalloc: one buffer of arena size (+ alignment slack)."""
    g = mlp(MLPConfig(batch=32))
    tracemalloc.start(25)
    try:
        before = tracemalloc.take_snapshot()
        compiled = compile_model(g)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    sizes = [s.size_diff for s in after.compare_to(before, "traceback")]
    arena = compiled.program.plan.arena_nbytes
    assert sum(arena <= s <= arena + 64 + 256 for s in sizes) == 1  # + alignment, array object


def test_compiled_outputs_live_outside_the_arena() -> None:
    compiled = compile_model(mlp(MLPConfig(batch=2)))
    x = np.ones((2, 1024), np.float32)
    (out,) = compiled(x)
    assert not np.shares_memory(out, compiled.arena)
    before = memory.snapshot()
    (again,) = compiled(x)
    assert again is out and memory.snapshot() == before  # the same buffer, nothing allocated


def test_weights_file_round_trip_and_shape_check(tmp_path) -> None:
    config = MLPConfig(batch=2, in_features=8, hidden=16, out_features=4)
    weights = mlp_weights(MLPConfig(**{**config.__dict__, "seed": 7}))
    path = tmp_path / "w.npz"
    np.savez(path, **weights)
    loaded = load_weights(path, config)
    assert all(np.array_equal(loaded[k], weights[k]) for k in weights)
    np.savez(path, **{**weights, "w1": np.zeros((3, 3), np.float32)})
    with pytest.raises(UserInputError, match="w1 has shape"):
        load_weights(path, config)
