"""The run is data; the text is rendered from it. Golden text with injected timings."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from mlxa.models.mlp import MLPConfig, mlp
from mlxa.report.files import render_json, write_run
from mlxa.report.text import render_text
from mlxa.session import RunOptions, analyze, memory_comparison

FIXED_META = {"mlxa_version": "0.1.0", "python_version": "3.11.7", "numpy_version": "2.4.6",
              "blas": {"library": "openblas", "architecture": "Haswell", "threads": 2},
              "cpu": "Test CPU", "cpu_count": 2, "platform": "Linux", "date": "2026-01-01",
              "command": "mlxa analyze"}


def fake_clock(step_s: float):
    ticks = itertools.count()
    return lambda: next(ticks) * step_s


def small_run(mode: str = "both") -> dict:
    config = MLPConfig(batch=4, in_features=16, hidden=64, out_features=8)
    x = np.ones((4, 16), np.float32)
    info = {"name": "mlp", "description": config.describe(), "batch": 4,
            "input_values": [1.0], "input_width": 16}
    run = analyze(mlp(config), (x,), RunOptions(mode=mode, warmup=1, repeat=5), info,
                  clock=fake_clock(0.002))
    run["meta"] = FIXED_META
    for part, peak in (("baseline", 20000), ("optimized", 500)):  # Python objects vary
        if part in run:
            run[part]["memory"]["peak_traced_nbytes"] = peak
    if "comparison" in run:
        run["comparison"]["memory"] = memory_comparison(run["baseline"], run["optimized"])
    return run


def test_text_report_golden(golden) -> None:
    golden("report_mlp_small.txt", render_text(small_run()))


def test_injected_clock_gives_exact_latency() -> None:
    run = small_run()
    assert run["baseline"]["latency_ms"]["median_ms"] == 2.0
    assert run["comparison"]["speedup_ratio"] == pytest.approx(1.0)


def test_every_json_key_with_a_number_names_its_unit() -> None:
    units = ("_ms", "_nbytes", "_pct", "_ratio", "flops", "_count", "params", "nodes", "batch",
             "seed", "allocations", "warmup", "repeat", "threads", "_diff", "tol", "index",
             "width", "_inference", "input_values", "shape", "inplace_ops", "_per_byte",
             "version", "cpu_count")

    def walk(obj, key=""):
        if isinstance(obj, dict):
            for k, v in obj.items():  # a unit on a mapping's key covers its entries
                walk(v, key if key.endswith(units) else k)
        elif isinstance(obj, list):
            for v in obj:
                walk(v, key)
        elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
            assert key.endswith(units) or any(u in key for u in units), key

    walk(small_run())


def test_saved_run_renders_the_same(tmp_path) -> None:
    run = small_run()
    json_path, text_path = write_run(run, tmp_path, "r")
    again = json.loads(json_path.read_text())
    assert render_text(again) == text_path.read_text() == render_text(run)
    assert json.loads(render_json(run)) == again
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_the_plan_in_the_data_is_the_valid_plan_that_ran() -> None:
    from mlxa.planners.contract import Buffer, Plan, validate

    plan = small_run("optimized")["optimized"]["plan"]
    rows = plan["buffers"]
    buffers = [Buffer(i, r["start_index"], r["end_index"], r["size_nbytes"])
               for i, r in enumerate(rows)]
    offsets = tuple(r["offset_nbytes"] for r in rows)
    validate(buffers, Plan(offsets, plan["arena_nbytes"], ""), plan["alignment_nbytes"])
    assert {r["kind"] for r in rows} >= {"matmul"}
