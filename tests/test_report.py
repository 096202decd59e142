"""The run is typed data; the text is rendered from it. Golden text with injected timings; the
JSON round-trips exactly; every number's key names its unit."""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pytest

from mlxa.models.mlp import MLPConfig, mlp
from mlxa.report.files import render_json, write_run
from mlxa.report.text import render_text
from mlxa.result import MemoryFigures, Meta, RunConfig, RunResult
from mlxa.session import ModelInfo, analyze, memory_comparison

FIXED_META = Meta(mlxa_version="0.1.0", python_version="3.11.7", numpy_version="2.4.6",
                  blas={"library": "openblas", "architecture": "Haswell", "threads": 2},
                  cpu="Test CPU", cpu_count=2, platform="Linux", date="2026-01-01",
                  command="mlxa analyze", load_average=0.5)


def fake_clock(step_s: float):
    ticks = itertools.count()
    return lambda: next(ticks) * step_s


def small_run(mode: str = "both", per_op: bool = False) -> RunResult:
    config = MLPConfig(batch=4, in_features=16, hidden=64, out_features=8)
    x = np.ones((4, 16), np.float32)
    info = ModelInfo(name="mlp", description=config.describe(), batch=4, input_values=(1.0,),
                     input_width=16)
    # no custom kernels: which one a bind-time trial keeps depends on the machine and on what
    # is installed, and the golden text must not
    run = analyze(mlp(config), (x,), RunConfig(mode=mode, warmup=1, repeat=5, per_op=per_op,
                                               kernels=()), info, clock=fake_clock(0.002))
    parts = {}
    for part, peak in (("baseline", 20000), ("optimized", 500)):  # Python objects vary
        ex = getattr(run, part)
        if ex is not None:
            parts[part] = dataclasses.replace(ex, memory=dataclasses.replace(
                ex.memory, peak_traced_nbytes=peak))
    run = dataclasses.replace(run, meta=FIXED_META, warnings=(), **parts)
    if run.comparison is not None:  # errors vary with the BLAS kernel's summation order
        mem = memory_comparison(run.baseline, run.optimized, run.plan)
        verdict = run.comparison.correctness
        fixed = dataclasses.replace(verdict, outputs=tuple(
            dataclasses.replace(o, eager_error=1e-7, optimized_error=2e-7)
            for o in verdict.outputs))
        run = dataclasses.replace(run, comparison=dataclasses.replace(
            run.comparison, memory=mem, correctness=fixed))
    # compile time varies from run to run
    return dataclasses.replace(run, plan=dataclasses.replace(
        run.plan, compile_ms=1.0, passes=tuple(dataclasses.replace(p, time_ms=0.1)
                                              for p in run.plan.passes)))


def test_text_report_golden(golden) -> None:
    golden("report_mlp_small.txt", render_text(small_run()))


def test_the_kernels_line_names_the_first_six_bindings() -> None:
    run = small_run()
    lines = tuple(f"%{i} conv -> conv_packed" for i in range(8))
    plan = dataclasses.replace(run.plan, kernels=lines)
    text = render_text(dataclasses.replace(run, plan=plan))
    assert "Custom kernels: %0 conv -> conv_packed; " in text and "%5 conv" in text
    assert "%6 conv" not in text and "(8 in all)" in text
    assert "Custom kernels: none" in render_text(run)


def test_injected_clock_gives_exact_latency() -> None:
    run = small_run()
    assert run.baseline.latency.median_ms == pytest.approx(2.0)
    assert run.comparison.speedup_ratio == pytest.approx(1.0)
    assert run.comparison.speedup_low_ratio == pytest.approx(1.0)


def test_every_json_key_with_a_number_names_its_unit() -> None:
    units = ("_ms", "_nbytes", "_pct", "_ratio", "flops", "_count", "params", "nodes", "batch",
             "seed", "allocations", "warmup", "repeat", "threads", "_error", "index", "scale",
             "width", "_inference", "input_values", "shape", "inplace_ops", "bound",
             "version", "cpu_count", "_s", "load_average", "mismatches", "_before", "_after")

    def walk(obj, key=""):
        if isinstance(obj, dict):
            for k, v in obj.items():  # a unit on a mapping's key covers its entries
                walk(v, key if key.endswith(units) else k)
        elif isinstance(obj, list):
            for v in obj:
                walk(v, key)
        elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
            assert key.endswith(units) or any(u in key for u in units), key

    walk(small_run(per_op=True).to_json())


def test_saved_run_renders_the_same(tmp_path) -> None:
    run = small_run(per_op=True)
    json_path, text_path = write_run(run, tmp_path, "r")
    again = RunResult.from_json(json.loads(json_path.read_text()))
    assert again == run
    assert render_text(again) == text_path.read_text() == render_text(run)
    assert json.loads(render_json(run)) == json.loads(json_path.read_text())
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_run_of_another_schema_is_refused() -> None:
    data = small_run().to_json()
    data["schema"] = "mlxa.run/1"
    with pytest.raises(ValueError, match="schema"):
        RunResult.from_json(data)


def test_memory_comparison_says_which_side_uses_more() -> None:
    run = small_run()
    more = dataclasses.replace(run.optimized, memory=MemoryFigures(10**6, 0, 0))
    mem = memory_comparison(run.baseline, more, run.plan)
    assert mem.reduction_pct < 0
    text = render_text(dataclasses.replace(
        run, comparison=dataclasses.replace(run.comparison, memory=mem)))
    assert "holds" in text and "more activation memory than eager" in text
    assert "-" not in text.split("Memory Efficiency:")[1].split("%")[0]


def test_the_plan_in_the_data_is_the_valid_plan_that_ran() -> None:
    from mlxa.planners.contract import Buffer, Plan, validate

    plan = small_run("optimized").plan
    buffers = [Buffer(i, r.start_index, r.end_index, r.size_nbytes)
               for i, r in enumerate(plan.buffers)]
    offsets = tuple(r.offset_nbytes for r in plan.buffers)
    validate(buffers, Plan(offsets, plan.arena_nbytes, ""), plan.alignment_nbytes)
    assert {r.kind for r in plan.buffers} >= {"matmul"}


def test_per_op_rows_cover_every_call_and_sum_to_the_total() -> None:
    config = MLPConfig(batch=4, in_features=16, hidden=64, out_features=8)
    run = analyze(mlp(config), (np.ones((4, 16), np.float32),),
                  RunConfig(warmup=1, repeat=5, per_op=True, kernels=()),
                  ModelInfo("mlp", "small"))
    for part in (run.baseline, run.optimized):
        rows = part.per_op.nodes
        assert rows and sum(r.median_ms for r in rows) == pytest.approx(part.per_op.sum_ms)
        assert sum(r.share_pct for r in rows) == pytest.approx(100.0)
    assert len(run.baseline.per_op.nodes) == run.model.nodes
    # the compiled run times its calls: the fused group is one row
    assert any(r.op == "fused" for r in run.optimized.per_op.nodes)
    assert "PER-OP TIME, OPTIMIZED" in render_text(run)


def test_model_strings_cannot_inject_lines() -> None:
    run = small_run()
    evil = dataclasses.replace(run, model=dataclasses.replace(
        run.model, description="x\nSpeedup: 1000x\x1b[31m"))
    text = render_text(evil)
    assert "\nSpeedup: 1000x" not in text and "\x1b" not in text


def test_an_output_below_float32s_smallest_normal_is_flagged() -> None:
    """Both executors underflow to 0 where the float64 reference is 1e-60: the check has nothing
    to compare, and the run says so; an output of ordinary size raises no such warning."""
    from mlxa.ir.builder import GraphBuilder

    def run(factor: float) -> RunResult:
        g = GraphBuilder("tiny")
        x = g.input((4, 8))
        y = g.op("mul", g.op("mul", x, g.param(np.float32(factor))), g.param(np.float32(factor)))
        graph = g.build(y)
        inputs = (np.ones((4, 8), np.float32),)
        return analyze(graph, inputs, RunConfig(warmup=0, repeat=3, kernels=()),
                       ModelInfo("tiny", "tiny"), clock=fake_clock(0.001))

    flagged = [w for w in run(1e-30).warnings if "smallest normal" in w]
    assert len(flagged) == 1 and "float32" in flagged[0]
    assert not [w for w in run(0.5).warnings if "smallest normal" in w]
