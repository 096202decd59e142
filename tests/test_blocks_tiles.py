"""The blocked kernels' broadcast tiles (ops/blocks.py): an operand broadcast along the blocked
axis is copied into a block-shaped tile once per call; results equal eager's, a changing operand
is read fresh on every call, and a call allocates nothing."""

from __future__ import annotations

import numpy as np

from mlxa.compiler import CompileOptions
from mlxa.ir.builder import GraphBuilder
from mlxa.ops import blocks, memory
from mlxa.ops.blocks import BLOCK_ELEMENTS, TILE_MIN_BLOCKS
from mlxa.runtime.compiled import compile_model
from mlxa.runtime.eager import EagerModel


def _bias_relu(rows: int, cols: int):
    g = GraphBuilder("bias_relu")
    x, b = g.input((rows, cols)), g.input((cols,))
    return g.build(g.op("relu", g.op("add", x, b))), x, b


def test_tiled_bias_matches_eager_and_follows_a_changing_input():
    cols = 1024
    rows = (TILE_MIN_BLOCKS + 2) * BLOCK_ELEMENTS // cols + 3  # a shorter last block too
    graph, _, _ = _bias_relu(rows, cols)
    # the op table's tiled bias (a custom chain loop would bind the group instead)
    compiled, eager = compile_model(graph, CompileOptions(kernels=())), EagerModel(graph)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, cols), dtype=np.float32)
    for _ in range(2):  # a new bias each call: the tile is filled at every call
        b = rng.standard_normal(cols, dtype=np.float32)
        np.testing.assert_array_equal(compiled(x, b)[0], eager(x, b)[0])
    before = memory.snapshot()
    compiled(x, b)
    assert memory.snapshot() == before


def test_few_blocks_or_scalars_are_not_tiled():
    o = np.zeros((4, 8), np.float32)
    few = [((np.ones((1, 8), np.float32),), o, ())] * (TILE_MIN_BLOCKS - 1)
    assert blocks.broadcast_tiles(few) == ([], {})
    many = [((np.ones((1, 1), np.float32), o), o, ())] * TILE_MIN_BLOCKS
    assert blocks.broadcast_tiles(many) == ([], {})
