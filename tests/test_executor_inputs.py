"""The executors' input checks: the compiled executor's copy (its one-input fast path and its
loop) and the eager executor refuse what the graph does not take, with one UserInputError
naming it, and copy what it does take, whatever its strides or its dtype object."""

from __future__ import annotations

import numpy as np
import pytest

from mlxa.errors import UserInputError
from mlxa.ir.builder import GraphBuilder
from mlxa.runtime.compiled import compile_model
from mlxa.runtime.eager import EagerModel


def graphs():
    one = GraphBuilder("one")
    one_out = one.op("relu", one.input((2, 3)))
    two = GraphBuilder("two")
    two_out = two.op("add", two.input((2, 3)), two.input((2, 3)))
    return one.build(one_out), two.build(two_out)


BAD = [
    ("wrong shape", lambda x: x.reshape(3, 2), "must be f32[2,3]"),
    ("wrong dtype", lambda x: x.astype(np.float64), "must be f32[2,3]"),
    ("big-endian", lambda x: x.astype(">f4"), "must be f32[2,3]"),
    ("a list", lambda x: x.tolist(), "must be a numpy array"),
    ("a scalar", lambda x: 1.0, "must be a numpy array"),
]


@pytest.mark.parametrize("what,spoil,needle", BAD, ids=[b[0] for b in BAD])
@pytest.mark.parametrize("executor", ["compiled", "eager"])
def test_a_bad_input_is_refused_by_name(what, spoil, needle, executor) -> None:
    for graph in graphs():
        model = compile_model(graph) if executor == "compiled" else EagerModel(graph)
        x = np.arange(6, dtype=np.float32).reshape(2, 3)
        inputs = [x] * len(graph.inputs)
        inputs[-1] = spoil(x)
        with pytest.raises(UserInputError, match=needle.replace("[", r"\[")):
            model(*inputs)
        with pytest.raises(UserInputError, match="takes"):
            model(*inputs, x)


def test_good_inputs_are_copied_whatever_their_layout_or_dtype_object() -> None:
    one, two = graphs()
    x = np.arange(-3, 3, dtype=np.float32).reshape(2, 3)
    strided = np.arange(-3, 9, dtype=np.float32).reshape(2, 6)[:, ::2]
    same_kind = x.view(np.dtype(np.float32).newbyteorder("="))  # equal, not the same object
    assert same_kind.dtype is not x.dtype and same_kind.dtype == x.dtype
    for model in (compile_model(one), EagerModel(one)):
        for a in (x, strided, same_kind, np.asfortranarray(x)):
            np.testing.assert_array_equal(model(a)[0], np.maximum(a, 0))
    model = compile_model(two)
    np.testing.assert_array_equal(model(x, strided)[0], x + strided)


def test_a_numpy_scalar_feeds_a_0d_input_in_both_executors() -> None:
    g = GraphBuilder("scalar")
    graph = g.build(g.op("relu", g.input(())))
    for model in (compile_model(graph), EagerModel(graph)):
        assert float(model(np.float32(-2.0))[0]) == 0.0
        assert float(model(np.array(3.0, np.float32))[0]) == 3.0
        with pytest.raises(UserInputError, match="must be"):
            model(np.float64(1.0))
