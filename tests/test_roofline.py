"""mlxa roofline: every compiled call and eager node has a row, and the compiled input copy one
first; intensity = FLOPs / bytes; the prediction is the call floor plus the roof formula at the
node's working set, far inputs at the reread rate of their reuse distance; scratch traffic
counted, views not; timed with a fake clock."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ceilings_fake import fake_ceilings, fake_clock
from cli_helpers import assert_one_line_error, run_cli

from mlxa.analysis.roofline import RooflineResult
from mlxa.analysis.roofline_run import PeakProbe, measure_roofline
from mlxa.compiler import compile_program
from mlxa.models.zoo import build
from mlxa.ops import get_op
from mlxa.runtime.compiled import CompiledModel


@pytest.fixture(scope="module")
def cnn():
    graph = build("small_cnn", 1, 0)
    x = np.random.default_rng(0).standard_normal(graph.inputs[0].shape).astype(np.float32)
    return graph, (x,)


@pytest.fixture(scope="module")
def result(cnn):
    graph, inputs = cnn
    return measure_roofline(graph, inputs, fake_ceilings(), {"name": "small_cnn"},
                            budget_s=0.0, probe=PeakProbe(64), clock=fake_clock())


def test_every_compiled_call_and_eager_node_has_a_row(cnn, result):
    graph, _ = cnn
    program = compile_program(graph)
    model = CompiledModel(program)
    # a node a custom kernel took as its epilogue has no call of its own: its op is named after
    # the call's ("conv+relu")
    calls = [c.step for c in model.calls]
    compiled, eager = result.executors
    assert compiled.executor == "compiled" and eager.executor == "eager"
    assert [r.work.index for r in compiled.rows] == [-1, *calls]
    copy = compiled.rows[0].work  # the inputs' copy into the arena: read once, written once
    assert copy.label == "in" and copy.flops == 0
    assert copy.moved_nbytes == 2 * sum(v.nbytes for v in graph.inputs)
    # the caller's arrays are read once per inference: a round of the program's memory away
    assert [n for n, _ in copy.reads] == [v.nbytes for v in graph.inputs]
    assert all(d > sum(a.nbytes for a in graph.params.values()) for _, d in copy.reads)
    want = []
    for i in calls:
        choice = model.kernel_plan.choices.get(i)
        epilogue = "" if choice is None or choice.epilogue is None else "+" + choice.epilogue.op
        want.append(program.graph.nodes[i].op + epilogue)
    assert [r.work.op for r in compiled.rows[1:] if "fused" not in r.work.op] == [
        w for w in want if not w.startswith("fused")]
    assert [r.work.index for r in eager.rows] == list(range(len(graph.nodes)))


def test_rows_follow_the_roof_formula(result):
    ceilings = fake_ceilings()
    peak = result.peak_flops_per_s  # the product timed in the same rounds
    assert result.ceilings_peak_flops_per_s == ceilings.peak_flops_per_s
    for ex in result.executors:
        for r in ex.rows:
            w = r.work
            if r.bound == "view":
                assert w.moved_nbytes == 0 and r.predicted_ms == 0
                continue
            assert w.intensity_flops_per_byte == pytest.approx(w.flops / w.moved_nbytes)
            ws = w.working_set_nbytes
            far = [(n, d) for n, d in w.reads if d > ws and n > 0]
            assert sum(n for n, _ in far) <= w.moved_nbytes
            # far inputs at half the copy rate of their reuse distance (the fake reread curve)
            memory_s = (sum(n / (0.5 * ceilings.bandwidth_at(d)) for n, d in far)
                        + (w.moved_nbytes - sum(n for n, _ in far)) / ceilings.bandwidth_at(ws))
            assert r.far_nbytes == sum(n for n, _ in far)
            work_s = max(w.flops / peak, memory_s)
            floor = result.call_floor_s if w.index >= 0 else result.load_floor_s  # "in"
            assert r.predicted_ms == pytest.approx((floor + work_s) * 1e3)
            assert r.bound == ("call" if floor > work_s else
                               "compute" if w.flops / peak >= memory_s else "memory")
            assert r.roof_flops_per_s <= peak * (1 + 1e-9)
            assert r.hint


def test_views_move_nothing_and_scratch_counts_twice(cnn, result):
    graph, _ = cnn
    eager = result.executors[1]
    for node, row in zip(graph.nodes, eager.rows):
        op = get_op(node.op)
        cost = op.cost([v.type for v in node.inputs], [v.type for v in node.outputs], node.attrs)
        if op.view:
            assert row.bound == "view" and row.work.moved_nbytes == 0
        else:
            assert row.work.moved_nbytes == cost.nbytes + 2 * row.work.scratch_nbytes
    assert any(r.work.scratch_nbytes for r in eager.rows if r.work.op == "conv")


def test_fake_clock_times_and_shares(result):
    for ex in result.executors:
        assert ex.rounds >= 3
        assert sum(r.share_pct for r in ex.rows) == pytest.approx(100.0)
        assert all(r.measured_ms >= 0 for r in ex.rows)
    top = result.top_lost()
    assert len(top) <= 10
    assert [r.lost_ms for r in top] == sorted((r.lost_ms for r in top), reverse=True)


def test_result_json_round_trip(result):
    data = json.loads(json.dumps(result.to_json()))
    assert data["executors"][0]["within_pct"] == result.executors[0].within_pct
    assert RooflineResult.from_json(data) == result


def test_roofline_command(tmp_path):
    machine = tmp_path / "machine.json"
    machine.write_text(json.dumps(fake_ceilings().to_json()))
    proc = run_cli("roofline", "--model", "small_cnn", "--budget", "0.05", "--ceilings",
                   str(machine), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["schema"] == "mlxa.roofline/4" and len(data["executors"]) == 2
    assert data["call_floor_s"] > 0  # a real clock: an empty call takes time
    assert data["load_floor_s"] > 0
    assert data["executors"][0]["rows"][0]["work"]["index"] == -1  # the input copy's row


def test_roofline_refuses_a_bad_ceilings_file(tmp_path):
    bad = tmp_path / "machine.json"
    bad.write_text("[1, 2]")
    assert_one_line_error(run_cli("roofline", "--model", "small_cnn", "--ceilings", str(bad)),
                          "--ceilings")


def test_weights_are_far_and_activations_near(cnn, result):
    """Each weight is read once per inference, so a whole round of the program's memory lies
    between two reads of it; an activation its producer wrote a call earlier is near."""
    graph, _ = cnn
    compiled = result.executors[0]
    rows = {r.work.index: r for r in compiled.rows[1:] if r.bound != "view"}
    program = compile_program(graph)
    weights_far = activations_near = 0
    previous: tuple = ()
    for i, r in rows.items():
        node = program.graph.nodes[i]
        for v, (nbytes, dist) in zip(node.inputs, r.work.reads):
            assert nbytes == v.nbytes and dist >= 0
            if v in program.graph.params and v.nbytes >= 4096:
                weights_far += dist >= 64 << 10  # more than this model's largest layer
            elif v in previous:
                activations_near += dist < 64 << 10
        previous = tuple(node.outputs) + tuple(program.graph.nodes[i + 1].outputs
                                               if i + 1 < len(program.graph.nodes) else ())
    assert weights_far >= 3 and activations_near >= 3


def test_a_weight_from_beyond_the_caches_is_charged_and_named():
    """A gemv whose 4 MiB weight comes back after 256 MiB of other memory moves it at the
    reread rate there (half the copy rate in the fake ceilings), and its hint says so."""
    from ceilings_fake import spread

    from mlxa.analysis.roofline import NodeWork, roofline_rows
    ceilings = fake_ceilings()
    weight, rest = 4 << 20, 8 << 10
    near = NodeWork(0, "fc", "gemm", (1, 1000), 2 * weight // 4, weight + rest, 0, False,
                    ((weight, 0), (rest, 0)))
    far = NodeWork(0, "fc", "gemm", (1, 1000), 2 * weight // 4, weight + rest, 0, False,
                   ((weight, 256 << 20), (rest, 0)))
    measured = (weight + rest) / (0.5 * ceilings.bandwidth_at(256 << 20))
    a, b = roofline_rows([near, far], [spread(measured)] * 2, ceilings)
    assert a.far_nbytes == 0 and b.far_nbytes == weight
    want = weight / (0.5 * ceilings.bandwidth_at(256 << 20)) + rest / ceilings.bandwidth_at(
        weight + rest)
    assert b.predicted_ms == pytest.approx(want * 1e3)
    assert b.predicted_ms > 2 * a.predicted_ms and b.within and not a.within
    assert "beyond the caches" in b.hint and "beyond" not in a.hint


def test_the_call_floor_is_added_to_every_roof_and_names_a_call_bound_node():
    """A node whose work takes less than the call floor is call-bound; its prediction is the
    floor plus its roof time."""
    from ceilings_fake import spread

    from mlxa.analysis.roofline import NodeWork, roofline_rows
    ceilings = fake_ceilings()
    tiny = NodeWork(0, "add", "add", (1, 8), 8, 96, 0, False)
    big = NodeWork(1, "fc", "gemm", (1, 1000), 10 ** 9, 4 << 20, 0, False)
    floor = 1e-6
    small_row, big_row = roofline_rows([tiny, big], [spread(1.5e-6), spread(0.02)], ceilings,
                                       call_floor_s=floor)
    bare_small, bare_big = roofline_rows([tiny, big], [spread(1.5e-6), spread(0.02)], ceilings)
    assert small_row.predicted_ms == pytest.approx(bare_small.predicted_ms + floor * 1e3)
    assert big_row.predicted_ms == pytest.approx(bare_big.predicted_ms + floor * 1e3)
    assert small_row.bound == "call" and "call-bound" in small_row.hint
    assert bare_small.bound == "memory" and big_row.bound == bare_big.bound == "compute"
    assert small_row.within and not bare_small.within
    # a call-bound node far above its roof: the kernel is slow, not the call
    slow_small, slow_dispatch = roofline_rows([tiny, tiny], [spread(40e-6), spread(10e-6)],
                                              ceilings, call_floor_s=floor)
    assert slow_small.bound == "call" and "call-bound" not in slow_small.hint
    assert "the kernel's own overhead" in slow_small.hint
    assert slow_dispatch.hint.startswith("dispatch-bound")


def test_the_input_copy_takes_the_load_floor_and_nodes_the_call_floor():
    from ceilings_fake import spread

    from mlxa.analysis.roofline import NodeWork, roofline_rows
    copy = NodeWork(-1, "in", "input copy", (1, 64), 0, 512, 0, False)
    node = NodeWork(0, "add", "add", (1, 8), 8, 96, 0, False)
    big = NodeWork(-1, "in", "input copy", (1, 3, 224, 224), 0, 2 * 602112, 0, False)
    rows = roofline_rows([copy, node, big], [spread(6e-7)] * 2 + [spread(1e-4)],
                         fake_ceilings(), call_floor_s=1e-7, load_floor_s=4e-7)
    bare = roofline_rows([copy, node, big], [spread(6e-7)] * 2 + [spread(1e-4)],
                         fake_ceilings())
    assert rows[0].predicted_ms == pytest.approx(bare[0].predicted_ms + 4e-4)
    assert rows[1].predicted_ms == pytest.approx(bare[1].predicted_ms + 1e-4)
    assert rows[0].bound == "call" and "load floor" in rows[0].hint and rows[0].within
    assert rows[2].bound == "memory" and "the bytes cost more" in rows[2].hint


def test_the_probes_time_a_call_and_a_copy_and_the_load_timed_executor_times_its_copy(cnn):
    from mlxa.analysis.roofline_run import CallProbe, LoadProbe, LoadTimed

    graph, inputs = cnn
    probe = CallProbe()
    assert probe.time_nodes(clock=fake_clock()) == [pytest.approx(1e-3)] and probe.what
    load = LoadProbe()
    assert load.time_nodes(clock=fake_clock()) == [pytest.approx(1e-3)] and load.what
    load.one[0] = -2.0
    load()  # the probe's model runs: its copy lands in its arena, relu of it comes out
    assert load.model.views[load.model.program.graph.inputs[0]][0] == -2.0
    model = CompiledModel(compile_program(graph))
    timed = LoadTimed(model).time_nodes(*inputs, clock=fake_clock())
    assert len(timed) == len(model.calls) + 1
    np.testing.assert_array_equal(LoadTimed(model)(*inputs)[0], model(*inputs)[0])


def test_a_corrupt_model_writes_nothing_not_even_the_out_directory(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07\x12\x04not a protobuf")
    out = tmp_path / "reports"
    assert_one_line_error(run_cli("roofline", str(bad), "--out", str(out)), "not an ONNX model")
    assert not out.exists()


def test_a_microsecond_model_is_reported_in_microseconds(result):
    """Under 0.1 ms end to end, the text and HTML reports print the executor's times in us (a
    few-microsecond model read 0.00 ms); above it, in ms."""
    import dataclasses

    from ceilings_fake import spread

    from mlxa.analysis.roofline import time_unit
    from mlxa.report.roofline_text import render_roofline_text
    from mlxa.report.study_html import roofline_html

    assert time_unit(5e-6) == (1e3, "us") and time_unit(2e-4) == (1.0, "ms")
    fast = dataclasses.replace(result, executors=tuple(
        dataclasses.replace(ex, end_to_end=spread(5e-6)) for ex in result.executors))
    slow = dataclasses.replace(result, executors=tuple(
        dataclasses.replace(ex, end_to_end=spread(5e-3)) for ex in result.executors))
    text = render_roofline_text(fast)
    e2e = fast.executors[0].end_to_end.median_s
    assert f"vs end-to-end {e2e * 1e6:.2f} us" in text
    assert "pred us" in text and "pred ms" not in text
    row = next(r for r in fast.executors[0].rows if r.measured_ms > 0)
    assert f"{row.measured_ms * 1e3:9.3f}" in text
    assert f"vs end-to-end {e2e * 1e6:.2f} ms" in render_roofline_text(slow)  # 1000x longer
    page = roofline_html(fast, fake_ceilings(), text)
    assert f"{e2e * 1e6:.3f} us" in page and "pred us" in page and "lost us" in page
    assert "pred ms" in roofline_html(slow, fake_ceilings(), text)
