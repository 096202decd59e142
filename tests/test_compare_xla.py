"""The JAX lowering against our eager executor (every op of the table, every zoo model), and
XLA's memory figures as the memory table and `mlxa memory` report them."""

from __future__ import annotations

import numpy as np
import pytest
from cli_helpers import assert_one_line_error, run_cli

pytest.importorskip("jax")

from mlxa.compare.memory_table import memory_row, random_inputs, render_table
from mlxa.compare.xla import check_lowering, compile_xla, lowering_rules, xla_memory
from mlxa.ir.builder import GraphBuilder
from mlxa.ir.graph import Graph, Value
from mlxa.models.zoo import ZOO, build
from mlxa.ops import OPS

# every zoo model, shrunk where it has sizes to shrink, so compiling them all stays quick
SMALL = {"mlp": {"hidden": 256}, "transformer": {"seq": 16, "d_model": 64, "d_ff": 128},
         "small_cnn": {}, "mobilenet_v2": {"image": 64, "width_mult": 0.5},
         "resnet18": {"image": 64, "width": 16}, "resnet50": {"image": 64, "width": 16},
         "digits_cnn": {}}


def assert_lowering_matches(graph: Graph) -> None:
    check = check_lowering(graph, random_inputs(graph))
    assert check["passed"], check


def test_every_op_of_the_table_has_a_lowering() -> None:
    assert sorted(set(OPS) - set(lowering_rules())) == []


@pytest.mark.parametrize("name", list(ZOO))
def test_the_lowering_equals_eager_on_every_zoo_model(name: str) -> None:
    assert_lowering_matches(build(name, batch=2, **SMALL[name]))


def _param(b: GraphBuilder, shape: tuple[int, ...], seed: int = 1) -> Value:
    return b.param(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def test_elementwise_ops() -> None:
    b = GraphBuilder("elementwise")
    x, y = b.input((2, 3, 8)), b.input((2, 3, 8))
    pos = b.op("add", b.op("abs", x), b.param(np.full((8,), 0.5, np.float32)))
    outs = [b.op(op, x) for op in ("relu", "sigmoid", "silu", "tanh", "neg", "exp", "erf",
                                   "hardswish", "abs")]
    outs += [b.op(op, x, y) for op in ("add", "sub", "mul", "max", "min")]
    outs += [b.op("sqrt", pos), b.op("log", pos), b.op("reciprocal", pos), b.op("div", x, pos),
             b.op("pow", pos, y), b.op("gelu", x, approximate="tanh"), b.op("gelu", x),
             b.op("clip", x, min=-0.5, max=0.5), b.op("clip", x, min=0.0, max=None),
             b.op("hardsigmoid", x, alpha=0.3, beta=0.4), b.op("leaky_relu", x, alpha=0.1),
             b.op("prelu", x, _param(b, (8,)))]
    assert_lowering_matches(b.build(*outs))


def test_fused_ops() -> None:
    from mlxa.passes.fuse_elementwise import fuse_elementwise

    b = GraphBuilder("chain")
    x = b.input((4, 16))
    h = b.op("gelu", b.op("add", b.op("matmul", x, _param(b, (16, 16))), _param(b, (16,))))
    g = fuse_elementwise(b.build(b.op("mul", b.op("tanh", h), x)))
    assert [n.op for n in g.nodes].count("fused") == 1
    assert_lowering_matches(g)


def test_convolutions_pooling_and_normalisation() -> None:
    b = GraphBuilder("spatial")
    x = b.input((2, 4, 11, 10))
    outs = [b.op("conv", x, _param(b, (6, 4, 3, 3)), _param(b, (6,)), strides=(2, 1),
                 pads=(1, 0, 2, 1), dilations=(2, 1)),
            b.op("conv", x, _param(b, (6, 2, 3, 3)), group=2, pads=(1, 1, 1, 1)),
            b.op("conv", x, _param(b, (8, 1, 3, 3)), group=4, strides=(2, 2), pads=(1, 1, 1, 1)),
            b.op("conv", x, _param(b, (5, 4, 1, 1))),
            b.op("max_pool", x, kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1),
                 ceil_mode=1),
            b.op("max_pool", x, kernel_shape=(2, 2), dilations=(2, 2)),
            b.op("global_avg_pool", x),
            b.op("batch_norm", x, *(b.param(np.linspace(0.5, 1.5, 4, dtype=np.float32))
                                    for _ in range(4)), epsilon=1e-3)]
    for include in (0, 1):
        outs.append(b.op("avg_pool", x, kernel_shape=(3, 2), strides=(2, 2), pads=(1, 0, 1, 1),
                         ceil_mode=1, count_include_pad=include))
    assert_lowering_matches(b.build(*outs))


def test_shape_indexing_reduction_and_linear_algebra_ops() -> None:
    b = GraphBuilder("shapes")
    x = b.input((2, 3, 4))
    idx = b.param(np.array([[0, -1], [2, 1]], np.int64))
    outs = [b.op("reshape", x, shape=(6, -1)), b.op("flatten", x, axis=2),
            b.op("squeeze", b.op("unsqueeze", x, axes=(0, 3)), axes=(0,)),
            b.op("identity", x), b.op("transpose", x), b.op("transpose", x, perm=(1, 0, 2)),
            b.op("expand", b.op("reduce_mean", x, axes=(1,)), shape=(2, 3, 4)),
            b.op("concat", x, x, axis=-1),
            *b.op_multi("split", x, axis=2, sizes=(1, 3)),
            b.op("slice", x, starts=(-1, 0), ends=(-100, 4), axes=(2, 1), steps=(-2, 2)),
            b.op("gather", x, idx, axis=1),
            b.op("reduce_sum", x, axes=(0, 2), keepdims=0), b.op("reduce_max", x),
            b.op("reduce_min", x, axes=(-1,)), b.op("argmax", x, axis=2),
            b.op("softmax", x, axis=1), b.op("log_softmax", x),
            b.op("layer_norm", x, _param(b, (3, 4)), _param(b, (4,)), axis=-2),
            b.op("matmul", x, _param(b, (4, 5))),
            b.op("matmul", _param(b, (3, 2)), b.op("reshape", x, shape=(2, 12))),
            b.op("gemm", b.op("reshape", x, shape=(6, 4)), _param(b, (6, 3)),
                 _param(b, (3,)), transA=1, alpha=0.5, beta=2.0)]
    for mode in ("constant", "reflect", "edge", "wrap"):
        outs.append(b.op("pad", x, pads=(0, 2, -1, 1, 1, 2), mode=mode, value=0.5))
    assert_lowering_matches(b.build(*outs))


def test_logic_ops() -> None:
    b = GraphBuilder("logic")
    x, y = b.input((3, 5)), b.input((3, 5))
    less = b.op("less", x, y)
    both = b.op("and", less, b.op("greater_equal", x, b.param(np.zeros((5,), np.float32))))
    outs = [b.op("where", b.op("or", b.op("not", both), b.op("equal", x, y)), x, y),
            b.op("cast", x, to="int32"), b.op("greater", x, y), b.op("less_equal", x, y)]
    assert_lowering_matches(b.build(*outs))


def test_xla_temp_is_a_positive_number_of_bytes() -> None:
    g = build("small_cnn", batch=2)
    mem = xla_memory(compile_xla(g, random_inputs(g)))
    assert mem.temp_nbytes > 0
    assert mem.input_nbytes == g.inputs[0].nbytes
    assert mem.output_nbytes == g.outputs[0].nbytes


def test_the_memory_row_has_every_column_and_the_table_prints_them() -> None:
    g = build("mlp", batch=2, hidden=256)
    row = memory_row("mlp", g, random_inputs(g))
    assert row["xla_temp_nbytes"] > 0 and row["xla_lowering"]["passed"]
    assert row["lower_bound_nbytes"] <= min(row["arena_nbytes"].values())
    assert row["reordered_bound_nbytes"] <= row["lower_bound_nbytes"]
    text = render_table([row], batch=2)
    assert "XLA temp" in text and "not inputs, outputs or weights" in text.replace("\n    ", " ")


def test_mlxa_memory_prints_the_xla_column() -> None:
    proc = run_cli("memory", "--model", "small_cnn", "--batch", "2", "--no-onnx-tool")
    assert proc.returncode == 0, proc.stderr
    header, row = proc.stdout.splitlines()[1:3]
    end = header.index("XLA temp") + len("XLA temp")  # cells are right-aligned to the header
    number, unit = row[:end].split()[-2:]
    assert float(number) > 0 and unit in ("B", "KiB", "MiB", "GiB")


@pytest.mark.parametrize("args, needle", [(("--model", "nope"), "unknown model"),
                                          (("--batch", "0"), "--batch")])
def test_mlxa_memory_rejects_bad_input_in_one_line(args: tuple[str, ...], needle: str) -> None:
    assert_one_line_error(run_cli("memory", *args), needle)


@pytest.mark.parametrize("rounding", ["fixed_point", "float"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_quantized_ops_lower_bit_for_bit(rounding: str, dtype: type) -> None:
    """quantize, a strided padded per-channel qlinear_conv with bias, qlinear_add, dequantize,
    qlinear_matmul: the int32 accumulation and both requantizations equal numpy's exactly."""
    rng = np.random.default_rng(0)
    b = GraphBuilder("quantized")
    x = b.input((1, 3, 9, 9))
    sx = b.param(np.float32(0.02))
    zx = b.param(np.array(7 if dtype == np.uint8 else -3, dtype))
    q = b.op("quantize_linear", x, sx, zx)
    w = b.param(rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8))
    sw = b.param((rng.random(4) * 0.01 + 0.001).astype(np.float32))
    sy = b.param(np.float32(0.05))
    zy = b.param(np.array(5 if dtype == np.uint8 else 2, dtype))
    bias = b.param(rng.integers(-1000, 1000, 4).astype(np.int32))
    y = b.op("qlinear_conv", q, sx, zx, w, sw, b.param(np.zeros(4, np.int8)), sy, zy, bias,
             pads=(1, 1, 1, 1), strides=(2, 2), rounding=rounding)
    s = b.op("qlinear_add", y, sy, zy, y, sy, zy, sy, zy)
    flat = b.op("reshape", b.op("dequantize_linear", s, sy, zy), shape=(1, -1))
    w2 = b.param(rng.integers(-127, 128, (flat.shape[1], 5)).astype(np.int8))
    m = b.op("qlinear_matmul", b.op("quantize_linear", flat, sy, zy), sy, zy, w2,
             b.param((rng.random(5) * 0.01 + 0.001).astype(np.float32)),
             b.param(np.zeros(5, np.int8)), sy, zy, rounding=rounding)
    graph = b.build(b.op("dequantize_linear", m, sy, zy), y)
    check = check_lowering(graph, [rng.standard_normal((1, 3, 9, 9)).astype(np.float32) * 3])
    assert check["passed"] and check["max_abs_diff"] == 0.0, check
