"""The op table's contract, over every op it holds: each declares a shape rule, a cost rule, a
kernel and a doc; each runs on its example (tests/op_examples.py) to exactly the types its shape
rule declares; given its outputs and workspace, its bound kernel computes the same and allocates
nothing; an op that may run in place computes the same in place. A newly registered op without
an example fails here. Then edge cases by hand: shape rules and their errors, FLOP rules,
compiled graphs that allocate nothing, blocked kernels equal to one block."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from op_examples import EXAMPLES

from mlxa.compiler import CompileOptions
from mlxa.errors import ShapeError
from mlxa.ir.builder import GraphBuilder
from mlxa.ir.graph import TensorType
from mlxa.ops import OPS, get_op
from mlxa.ops.blocks import block_elements_of
from mlxa.ops.table import Attrs, OpDef
from mlxa.profile.memory import measure_memory
from mlxa.runtime.compiled import compile_model
from mlxa.runtime.eager import EagerModel

RNG = np.random.default_rng(3)
ALL_OPS = sorted(OPS)


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def t(*shape: int) -> TensorType:
    return TensorType.of(shape)


# -- every op in the table -----------------------------------------------------------------------

def types_of(arrays: Sequence[np.ndarray]) -> list[TensorType]:
    return [TensorType.of(a.shape, a.dtype) for a in arrays]


def example(name: str) -> tuple[list[np.ndarray], Attrs]:
    if name not in EXAMPLES:
        pytest.fail(f"op {name!r} has no example: add one to tests/op_examples.py")
    arrays, attrs = EXAMPLES[name]()
    return list(arrays), attrs


def workspace_for(op: OpDef, ins: Sequence[TensorType], outs: Sequence[TensorType],
                  attrs: Attrs) -> np.ndarray | None:
    """What the compiled executor hands the op: its scratch, or its blocks' temporaries."""
    nbytes = op.workspace_nbytes(ins, outs, attrs)
    if op.ew is not None:
        nbytes = max(nbytes, op.tmps(attrs) * block_elements_of(outs[0].shape)
                     * outs[0].dtype.itemsize)
    return np.zeros(nbytes, np.uint8) if nbytes else None


def assert_same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(got, want)


def test_every_op_has_an_example_and_every_example_an_op() -> None:
    assert sorted(set(OPS) - set(EXAMPLES)) == [], "ops without an example (tests/op_examples.py)"
    assert sorted(set(EXAMPLES) - set(OPS)) == [], "examples of ops not in the table"


@pytest.mark.parametrize("name", ALL_OPS)
def test_every_op_declares_every_rule(name: str) -> None:
    op = OPS[name]
    assert op.name == name
    assert callable(op.shape) and callable(op.flops) and callable(op.kernel)
    assert op.doc.strip(), f"op {name!r} has no doc"
    assert not (op.view and op.inplace), "a view shares its input; in place is something else"


@pytest.mark.parametrize("name", ALL_OPS)
def test_every_op_runs_its_example_to_its_declared_types(name: str) -> None:
    op = get_op(name)
    arrays, attrs = example(name)
    ins = types_of(arrays)
    outs = op.shape(ins, attrs)
    results = op.kernel(arrays, None, attrs)
    assert types_of(results) == list(outs)
    cost = op.cost(ins, outs, attrs)
    assert isinstance(cost.flops, int) and cost.flops >= 0
    assert (cost.read_nbytes, cost.written_nbytes) == (sum(x.nbytes for x in ins),
                                                       sum(x.nbytes for x in outs))


@pytest.mark.parametrize("name", ALL_OPS)
def test_bound_kernels_compute_the_same_and_allocate_nothing(name: str) -> None:
    op = get_op(name)
    arrays, attrs = example(name)
    ins = types_of(arrays)
    outs = op.shape(ins, attrs)
    want = [np.array(r) for r in op.kernel(arrays, None, attrs)]
    got = [np.full(o.shape, 7, o.dtype) for o in outs]  # not zeros: every element is written
    call = op.bound(arrays, got, attrs, workspace_for(op, ins, outs, attrs))
    call()
    for g, w in zip(got, want):
        assert_same(g, w)
    assert measure_memory(call).allocations == 0


@pytest.mark.parametrize("name", [n for n in ALL_OPS if OPS[n].inplace])
def test_in_place_ops_compute_the_same_in_place(name: str) -> None:
    op = get_op(name)
    arrays, attrs = example(name)
    ins = types_of(arrays)
    outs = op.shape(ins, attrs)
    (want,) = (np.array(r) for r in op.kernel(arrays, None, attrs))
    donors = [k for k in op.alias_candidates(attrs, len(arrays)) if ins[k] == outs[0]]
    assert donors, f"op {name!r} claims in place, but its example has no input of its output type"
    for k in donors:
        shared = [a.copy() for a in arrays]
        op.bound(shared, [shared[k]], attrs, workspace_for(op, ins, outs, attrs))()
        assert_same(shared[k], want)


# -- edge cases ----------------------------------------------------------------------------------

def test_every_op_can_be_exported() -> None:
    from mlxa.frontends.onnx_export import EXPORTERS

    assert set(OPS) - {"fused"} <= set(EXPORTERS), set(OPS) - set(EXPORTERS)


@pytest.mark.parametrize("op, ins, attrs, shape", [
    ("conv", [t(2, 3, 224, 224), t(64, 3, 7, 7)], {"strides": (2, 2), "pads": (3, 3, 3, 3)},
     (2, 64, 112, 112)),
    ("conv", [t(1, 32, 15, 15), t(32, 1, 3, 3)], {"group": 32, "dilations": (2, 2)},
     (1, 32, 11, 11)),
    ("max_pool", [t(1, 64, 112, 112)], {"kernel_shape": (3, 3), "strides": (2, 2),
                                        "pads": (1, 1, 1, 1)}, (1, 64, 56, 56)),
    ("avg_pool", [t(1, 2, 6, 6)], {"kernel_shape": (3, 3), "strides": (2, 2), "ceil_mode": 1},
     (1, 2, 3, 3)),
    ("global_avg_pool", [t(2, 8, 7, 7)], {}, (2, 8, 1, 1)),
    ("reshape", [t(2, 3, 4)], {"shape": (6, -1)}, (6, 4)),
    ("flatten", [t(2, 3, 4, 5)], {"axis": 2}, (6, 20)),
    ("transpose", [t(2, 3, 4)], {"perm": (2, 0, 1)}, (4, 2, 3)),
    ("concat", [t(2, 3), t(2, 5)], {"axis": -1}, (2, 8)),
    ("slice", [t(10, 8)], {"starts": (-3, 1), "ends": (100, 7), "axes": (0, 1),
                           "steps": (1, 3)}, (3, 2)),
    ("gather", [t(5, 7), TensorType.of((2, 3), np.int64)], {"axis": 1}, (5, 2, 3)),
    ("squeeze", [t(1, 3, 1)], {"axes": (-1,)}, (1, 3)),
    ("unsqueeze", [t(3, 4)], {"axes": (0, 3)}, (1, 3, 4, 1)),
    ("pad", [t(2, 3)], {"pads": (1, -1, 0, 2)}, (3, 4)),
    ("reduce_mean", [t(2, 3, 4)], {"axes": (0, -1), "keepdims": 0}, (3,)),
    ("expand", [t(3, 1)], {"shape": (2, 1, 4)}, (2, 3, 4)),
    ("layer_norm", [t(2, 5, 8), t(8), t(8)], {}, (2, 5, 8)),
])
def test_shape_rules(op, ins, attrs, shape) -> None:
    assert get_op(op).shape(ins, attrs)[0].shape == shape


def test_split_has_one_output_per_size() -> None:
    outs = get_op("split").shape([t(4, 10)], {"axis": 1, "sizes": (2, 3, 5)})
    assert [o.shape for o in outs] == [(4, 2), (4, 3), (4, 5)]


@pytest.mark.parametrize("op, shapes, attrs, match", [
    ("conv", [(1, 3, 8, 8), (4, 2, 3, 3)], {}, "group=1"),
    ("conv", [(1, 3, 2, 2), (4, 3, 3, 3)], {}, "larger than the padded input"),
    ("reshape", [(2, 3)], {"shape": (4, 2)}, "cannot reshape"),
    ("concat", [(2, 3), (3, 3)], {"axis": 1}, "cannot concat"),
    ("squeeze", [(2, 3)], {"axes": (0,)}, "not of size 1"),
    ("transpose", [(2, 3)], {"perm": (0, 0)}, "not a permutation"),
    ("pad", [(2, 3)], {"pads": (0, 3, 0, 3), "mode": "reflect"}, "reflect"),
    ("layer_norm", [(2, 8), (5,)], {}, "normalised dims"),
])
def test_shape_errors_quote_the_node(op, shapes, attrs, match) -> None:
    b = GraphBuilder()
    values = [b.input(s) for s in shapes]
    with pytest.raises(ShapeError, match=match) as err:
        b.op(op, *values, **attrs)
    assert f"= {op} " in str(err.value)


def test_conv_flops_are_two_per_multiply_add_plus_bias() -> None:
    ins = [t(1, 8, 10, 10), t(16, 4, 3, 3), t(16)]
    attrs = {"group": 2, "pads": (1, 1, 1, 1)}
    outs = get_op("conv").shape(ins, attrs)
    macs = 1 * 16 * 10 * 10 * 4 * 3 * 3
    assert get_op("conv").flops(ins, outs, attrs) == 2 * macs + 16 * 10 * 10
    assert get_op("conv").flops(ins[:2], outs, attrs) == 2 * macs


def _graph(build):
    b = GraphBuilder("contract")
    x = b.input((2, 16, 64, 64))
    return b.build(build(b, x)), (f32(2, 16, 64, 64),)


GRAPHS = {
    "conv-im2col": lambda b, x: b.op("conv", x, b.param(f32(16, 16, 3, 3)), b.param(f32(16)),
                                     pads=(1, 1, 1, 1)),
    "conv-grouped-strided": lambda b, x: b.op("conv", x, b.param(f32(32, 4, 3, 3)), group=4,
                                              strides=(2, 2), pads=(0, 1, 1, 0)),
    "conv-depthwise": lambda b, x: b.op("conv", x, b.param(f32(32, 1, 5, 5)), group=16,
                                        pads=(2, 2, 2, 2)),
    "conv-pointwise": lambda b, x: b.op("conv", x, b.param(f32(24, 16, 1, 1))),
    "max_pool": lambda b, x: b.op("max_pool", x, kernel_shape=(3, 3), strides=(2, 2),
                                  pads=(1, 1, 1, 1), ceil_mode=1),
    "avg_pool": lambda b, x: b.op("avg_pool", x, kernel_shape=(3, 3), pads=(1, 1, 1, 1)),
    "batch_norm": lambda b, x: b.op("batch_norm", b.op("relu", x),
                                    *(b.param(np.abs(f32(16)) + 0.5) for _ in range(4))),
    "softmax": lambda b, x: b.op("softmax", b.op("relu", x), axis=1),
    "log_softmax": lambda b, x: b.op("log_softmax", x, axis=-1),
    "layer_norm": lambda b, x: b.op("layer_norm", b.op("relu", x), b.param(f32(64)),
                                    b.param(f32(64))),
    "pad-reflect": lambda b, x: b.op("pad", x, pads=(0, 0, 2, 3, 0, 0, 1, 2), mode="reflect"),
    "transpose+reshape": lambda b, x: b.op("reshape", b.op("transpose", x, perm=(0, 2, 3, 1)),
                                           shape=(2, -1)),
    "slice+concat": lambda b, x: b.op("concat", b.op("slice", x, starts=(1,), ends=(9,),
                                                     axes=(1,)), x, axis=1),
    "reduce_mean": lambda b, x: b.op("reduce_mean", x, axes=(2, 3), keepdims=1),
    "gather": lambda b, x: b.op("gather", x, b.param(np.array([3, -1, 0], np.int64)), axis=2),
    "clip+hardswish": lambda b, x: b.op("hardswish", b.op("clip", x, min=-1.0, max=1.0)),
}


@pytest.mark.parametrize("name", GRAPHS)
def test_compiled_kernels_allocate_nothing(name) -> None:
    graph, inputs = _graph(GRAPHS[name])
    compiled = compile_model(graph, CompileOptions(kernels=()))  # the op table's own kernels
    want = EagerModel(graph)(*inputs)
    np.testing.assert_allclose(compiled(*inputs)[0], want[0], rtol=1e-6, atol=1e-6)
    stats = measure_memory(lambda: compiled(*inputs))
    assert stats.allocations == 0
    # numpy's ufuncs may buffer broadcast operands, 8192 elements at a time: bounded, not a
    # tensor (every value here is 512 KiB)
    assert stats.peak_traced_nbytes < 2 * np.getbufsize() * 4 + (16 << 10), stats


@pytest.mark.parametrize("op, attrs, extra", [
    ("batch_norm", {"epsilon": 1e-3}, 4),
    ("softmax", {"axis": 1}, 0),
    ("layer_norm", {"axis": 2}, 1),
    ("clip", {"min": -0.5, "max": 0.5}, 0),
    ("hardswish", {}, 0),
    ("leaky_relu", {"alpha": 0.2}, 0),
    ("identity", {}, 0),
])
def test_in_place_equals_out_of_place(op, attrs, extra) -> None:
    x = f32(2, 6, 5, 7)
    params = [np.abs(f32(6)) + 0.5 for _ in range(extra)] if op == "batch_norm" else \
        [f32(5, 7) for _ in range(extra)]
    (want,) = get_op(op).kernel([x, *params], None, attrs)
    want = np.array(want)
    y = x.copy()
    get_op(op).kernel([y, *params], [y], attrs)
    np.testing.assert_array_equal(y, want)


def test_depthwise_channel_blocks_match_one_block(monkeypatch) -> None:
    from mlxa.ops import conv

    x, w = f32(2, 6, 9, 8), f32(12, 1, 3, 3)
    attrs = {"group": 6, "strides": (1, 2), "pads": (1, 1, 0, 1)}
    (whole,) = conv.CONV.kernel([x, w], None, attrs)
    monkeypatch.setattr(conv, "CHANNEL_BLOCK_NBYTES", 1)  # one channel per block
    (blocked,) = conv.CONV.kernel([x, w], None, attrs)
    np.testing.assert_allclose(blocked, whole, rtol=1e-6, atol=1e-6)


def test_conv_bands_match_one_band(monkeypatch) -> None:
    from mlxa.ops import conv

    x, w = f32(2, 6, 13, 11), f32(8, 3, 3, 3)
    attrs = {"group": 2, "strides": (2, 1), "pads": (1, 0, 2, 1)}
    (whole,) = conv.CONV.kernel([x, w], None, attrs)
    monkeypatch.setattr(conv, "COL_BUFFER_NBYTES", 64)  # one output row per band
    (banded,) = conv.CONV.kernel([x, w], None, attrs)
    np.testing.assert_allclose(banded, whole, rtol=1e-6, atol=1e-6)
