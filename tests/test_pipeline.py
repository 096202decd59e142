"""The compiler as a pipeline: each pass runs once per analyze run, passes read as before/after
IR, the verifier catches a pass that breaks the IR, and the oracle fails an executor whose plan,
kernel or in-place decision is wrong."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mlxa.compiler import PASSES, CompileOptions, Pass, compile_program, run_passes
from mlxa.ir.builder import GraphBuilder
from mlxa.ir.graph import Node
from mlxa.ir.printer import format_graph
from mlxa.ir.verify import IRError, check_graph
from mlxa.models.zoo import build
from mlxa.oracle import check
from mlxa.planners.contract import Plan
from mlxa.result import RunConfig
from mlxa.runtime.compiled import CompiledModel
from mlxa.runtime.eager import EagerModel
from mlxa.session import ModelInfo, analyze


def small_cnn_and_input():
    graph = build("small_cnn", batch=1)
    x = np.random.default_rng(0).standard_normal(graph.inputs[0].shape).astype(np.float32)
    return graph, x


def test_one_analyze_run_invokes_each_pass_once(monkeypatch) -> None:
    calls: dict[str, int] = {}
    for name, p in list(PASSES.items()):
        def counted(g, o, _run=p.run, _name=name):
            calls[_name] = calls.get(_name, 0) + 1
            return _run(g, o)
        monkeypatch.setitem(PASSES, name, dataclasses.replace(p, run=counted))
    graph, x = small_cnn_and_input()
    run = analyze(graph, (x,), RunConfig(warmup=1, repeat=3, per_op=True), ModelInfo("t", "t"))
    assert calls == {name: 1 for name in CompileOptions().pass_names()}
    assert [p.name for p in run.plan.passes] == list(CompileOptions().pass_names())


def test_show_reads_the_same_program(monkeypatch) -> None:
    from mlxa.cli.show_cmd import show_text

    count = {"n": 0}
    fold = PASSES["fold_batch_norm"]

    def counted(g, o):
        count["n"] += 1
        return fold.run(g, o)

    monkeypatch.setitem(PASSES, "fold_batch_norm", dataclasses.replace(fold, run=counted))
    text = show_text(build("small_cnn", batch=1))
    assert count["n"] == 1 and "# compiled by fold_batch_norm" in text


def test_fold_batch_norm_before_and_after() -> None:
    b = GraphBuilder("conv_bn")
    x = b.input((1, 2, 4, 4))
    w = b.param(np.ones((3, 2, 1, 1), np.float32))
    y = b.op("conv", x, w)
    stats = [b.param(np.full(3, v, np.float32)) for v in (2.0, 0.5, 0.25, 4.0)]
    graph = b.build(b.op("relu", b.op("batch_norm", y, *stats, epsilon=0.0)))
    folded, _ = run_passes(graph, CompileOptions(fuse=False, verify=True))
    assert format_graph(folded) == "\n".join([
        "graph conv_bn(%0: f32[1,2,4,4]) {",
        "  %1: f32[3,2,1,1] = param            # 24 B",
        "  %2: f32[3] = param                  # 12 B",
        "  %3: f32[1,3,4,4] = conv %0, %1, %2  # 192 B",
        "  %4: f32[1,3,4,4] = relu %3          # 192 B",
        "  return %4",
        "}"])
    # conv(x, w * s) + (b - mean) * s + bias with s = scale / sqrt(var): w 1 -> 1, bias -> 0
    xs = np.ones((1, 2, 4, 4), np.float32)
    np.testing.assert_allclose(EagerModel(folded)(xs)[0], EagerModel(graph)(xs)[0])


def test_fuse_elementwise_before_and_after() -> None:
    b = GraphBuilder("chain")
    x = b.input((2, 8))
    h = b.op("matmul", x, b.param(np.ones((8, 8), np.float32)))
    graph = b.build(b.op("relu", b.op("add", h, b.param(np.ones(8, np.float32)))))
    fused, records = run_passes(graph, CompileOptions(fold_bn=False, verify=True))
    assert [r.name for r in records] == ["fuse_elementwise"] and records[0].changed
    assert (records[0].nodes_before, records[0].nodes_after) == (3, 2)
    line = format_graph(fused).splitlines()[4]
    assert line == "  %4: f32[2,8] = fused{add(#0,#1) > relu(_)} %3, %2  # 64 B"


def test_the_verifier_names_a_pass_that_breaks_the_ir(monkeypatch) -> None:
    def backwards(g, o):
        return g.replace(nodes=tuple(reversed(g.nodes)))

    monkeypatch.setitem(PASSES, "fold_batch_norm", Pass("fold_batch_norm", backwards, ""))
    graph, _ = small_cnn_and_input()
    with pytest.raises(IRError, match="after fold_batch_norm.*before they are defined"):
        compile_program(graph, CompileOptions(verify=True))


def test_the_verifier_catches_a_wrong_declared_type() -> None:
    graph, _ = small_cnn_and_input()
    node = graph.nodes[0]
    liar = dataclasses.replace(node.outputs[0], type=node.inputs[0].type)
    wrong = Node(node.op, node.inputs, (liar,), node.attrs, node.name)
    with pytest.raises(IRError, match="declares"):
        check_graph(graph.replace(nodes=(wrong, *graph.nodes[1:])))


# -- injected bugs: the oracle must fail them ---------------------------------------------------

def judged(program, graph, x) -> bool:
    eager = tuple(np.array(a) for a in EagerModel(graph)(x))
    got = tuple(np.array(a) for a in CompiledModel(program)(x))
    return check(graph, [x], eager, got).passed


def test_the_real_program_passes() -> None:
    graph, x = small_cnn_and_input()
    assert judged(compile_program(graph), graph, x)


def test_an_overlapping_plan_fails() -> None:
    graph, x = small_cnn_and_input()
    program = compile_program(graph)
    overlapping = Plan((0,) * len(program.plan.offsets), program.plan.arena_nbytes, "broken")
    assert not judged(dataclasses.replace(program, plan=overlapping), graph, x)


def test_a_wrong_kernel_fails(monkeypatch) -> None:
    from mlxa.ops import table

    relu = table.OPS["relu"]

    def identity_block(args, out, tmps, attrs) -> None:
        np.copyto(out, args[0])

    monkeypatch.setitem(table.OPS, "relu", dataclasses.replace(relu, ew=identity_block))
    graph, x = small_cnn_and_input()
    # the op table's kernels: with custom kernels on, a conv takes the relu as its epilogue
    assert not judged(compile_program(graph, CompileOptions(kernels=())), graph, x)


def test_a_wrong_inplace_decision_fails() -> None:
    """Two buffers that live at the same time made one: the later value overwrites the earlier
    while it is still needed."""
    graph = build("resnet18", batch=1)
    x = np.random.default_rng(0).standard_normal(graph.inputs[0].shape).astype(np.float32)
    program = compile_program(graph)
    buffers = program.planned_buffers
    live_together = next((a, b) for a in buffers for b in buffers
                         if a.id < b.id and a.overlaps(b) and a.nbytes == b.nbytes)
    offsets = list(program.plan.offsets)
    index = {buf.id: i for i, buf in enumerate(buffers)}
    offsets[index[live_together[1].id]] = offsets[index[live_together[0].id]]
    broken = dataclasses.replace(program, plan=Plan(tuple(offsets), program.plan.arena_nbytes,
                                                     "broken"))
    assert not judged(broken, graph, x)


def test_internal_error_exits_3_with_one_line_and_debug_shows_the_traceback(
        monkeypatch, capsys, tmp_path) -> None:
    from mlxa.cli import main as cli
    from mlxa.compiler import program

    def boom(*a, **k):
        raise RuntimeError("planner exploded\nsecond line")

    monkeypatch.setattr(program, "validate", boom)
    args = ["analyze", "--hidden", "32", "--batch", "2", "--repeat", "2", "--out", str(tmp_path)]
    assert cli.main(args) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "internal error: RuntimeError: planner exploded second line" in err
    assert not list(tmp_path.iterdir())
    assert cli.main([*args, "--debug"]) == 3
    assert "Traceback" in capsys.readouterr().err
