"""The HTML report as text: rendered from the run alone (a saved run renders the same), one
self-contained page (no reference outside it), every hostile string escaped, the figures drawn
from the plan's own data (one rectangle per buffer, one box per compiled node, lanes that never
cross a pending value). The browser tests (test_html_browser.py) load the pages for real."""

from __future__ import annotations

import json
import re

import pytest
from html_runs import EVIL, hostile_run, zoo_run
from test_report import small_run

from mlxa.report.html import render_html
from mlxa.report.html_diff import render_diff_html
from mlxa.report.svg import byte_ticks
from mlxa.report.svg_graph import lanes
from mlxa.report.svg_roofline import Ceilings, points, roofline_svg
from mlxa.report.svg_timeline import live_nbytes, timeline_svg
from mlxa.result import RunResult

SECTIONS = ("summary", "graph", "timeline", "roofline", "per-op", "machine")


def test_every_section_is_there_with_how_it_was_measured() -> None:
    page = render_html(small_run(per_op=True))
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in page
    assert page.count('class="how"') >= len(SECTIONS)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_the_page_refers_to_nothing_outside_itself() -> None:
    page = render_html(small_run(per_op=True))
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    refs = re.findall(r'(?:src|href|action)\s*=\s*"([^"]*)"', page)
    assert all(r.startswith("#") or r.startswith("data:") for r in refs), refs
    assert "url(" not in page and "@import" not in page
    # the one URL is the SVG namespace, an identifier that is never fetched
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) <= {"http://www.w3.org/2000/svg"}


def test_a_saved_run_renders_the_same() -> None:
    run = small_run(per_op=True)
    again = RunResult.from_json(json.loads(json.dumps(run.to_json())))
    assert again == run
    assert render_html(again) == render_html(run)


def test_hostile_strings_are_escaped_everywhere() -> None:
    run = hostile_run()
    for page in (render_html(run), render_diff_html(run, run, names=(EVIL, EVIL))):
        assert EVIL not in page
        for raw in ("<script>window", "<img", "onerror=\"", "</style>&"):
            assert raw not in page, raw
        assert page.count("<script>") == 1  # the report's own script, nothing else
        assert "&lt;script&gt;" in page


def test_without_per_op_times_the_table_shows_costs_and_no_roofline() -> None:
    run = small_run()
    page = render_html(run)
    assert '<section id="roofline">' not in page
    assert "FLOP/B" in page and "read" in page
    assert not points(run)


def test_graph_boxes_and_arena_bars_come_from_the_compiled_nodes() -> None:
    run = zoo_run("resnet18", per_op=False)
    nodes = run.plan.nodes
    assert len(nodes) < run.model.nodes  # batch norms folded, chains fused
    page = render_html(run)
    graph = page.split('<section id="graph">')[1].split("</section>")[0]
    assert graph.count('<g class="node">') == len(nodes)
    assert graph.count("<path ") == sum(len(n.producer_index) for n in nodes)
    assert sum(n.op == "fused" for n in nodes) == len(run.plan.fusion_groups)


def test_compiled_nodes_agree_with_the_plan() -> None:
    run = zoo_run("resnet18", per_op=False)
    plan = run.plan
    for n in plan.nodes:
        assert all(p < n.index for p in n.producer_index)
        assert n.start_index == n.index and n.end_index > n.index
        if n.offset_nbytes is not None:
            assert 0 <= n.offset_nbytes and n.offset_nbytes + n.size_nbytes <= plan.arena_nbytes
    planned = {(b.start_index, b.offset_nbytes) for b in plan.buffers}
    assert all((n.start_index, n.offset_nbytes) in planned for n in plan.nodes
               if n.offset_nbytes is not None and not n.shares_input)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "transformer"])
def test_a_lane_is_never_taken_while_a_value_still_flows_down_it(name) -> None:
    nodes = zoo_run(name, per_op=False).plan.nodes
    lane = lanes(nodes)
    last_use = {n.index: max([m.index for m in nodes if n.index in m.producer_index],
                             default=n.index) for n in nodes}
    for n in nodes:
        pending = [m for m in nodes[:n.index] if lane[m.index] == lane[n.index]
                   and last_use[m.index] > n.index]
        assert not pending, (n.index, [m.index for m in pending])
    assert max(lane) < 6  # residual networks stay narrow


def test_timeline_draws_every_buffer_and_the_bytes_alive() -> None:
    plan = zoo_run("small_cnn").plan
    svg = timeline_svg(plan)
    assert svg.count("<rect ") == len(plan.buffers) + 1  # + the plot's background
    assert 'class="live"' in svg and "lower bound" in svg
    assert max(live_nbytes(plan)) <= plan.lower_bound_nbytes  # the bound counts alignment


def test_byte_ticks_are_whole_binary_units() -> None:
    assert byte_ticks(7.7 * 2**20) == [0, 2 * 2**20, 4 * 2**20, 6 * 2**20]
    assert byte_ticks(1000)[-1] == 1000


def test_roofline_draws_given_ceilings_and_ignores_bad_ones() -> None:
    run = zoo_run("small_cnn")
    pts = points(run)
    assert pts and {p.executor for p in pts} == {"baseline", "optimized"}
    ceilings = Ceilings.from_json({"peak_flops_per_s": 1e11, "how": EVIL,
                                   "bandwidth_bytes_per_s": {"DRAM": 2e10, "L2": 1e11,
                                                             "bad": -1, "nan": float("nan")}})
    assert [label for label, _ in ceilings.bandwidth_bytes_per_s] == ["DRAM", "L2"]
    svg = roofline_svg(pts, ceilings)
    assert svg.count('class="roof"') == 3 and svg.count('class="pt"') == len(pts)
    assert Ceilings.from_json({"peak_flops_per_s": "many"}).peak_flops_per_s is None
    page = render_html(run, ceilings)
    assert EVIL not in page and "peak 100.0 GFLOP/s" in page


def test_two_runs_side_by_side() -> None:
    a, b = small_run(per_op=True), zoo_run("mlp")
    page = render_diff_html(a, b, names=("before", "after"))
    assert "after / before" in page and page.count('class="cols"') >= 3
    assert '<section id="per-op-diff">' in page
    assert page.count("<script>") == 1


@pytest.mark.parametrize("mode", ["baseline", "optimized"])
def test_one_executor_runs_render_what_they_have(mode) -> None:
    import numpy as np

    from mlxa.models.mlp import MLPConfig, mlp
    from mlxa.result import RunConfig
    from mlxa.session import ModelInfo, analyze

    config = MLPConfig(batch=2, in_features=8, hidden=16, out_features=4)
    run = analyze(mlp(config), (np.ones((2, 8), np.float32),),
                  RunConfig(mode=mode, warmup=0, repeat=2, per_op=True), ModelInfo("m", "m"))
    page = render_html(run)
    assert ('<section id="graph">' in page) is (mode == "optimized")
    assert ('<section id="timeline">' in page) is (mode == "optimized")
    assert '<section id="roofline">' in page and '<section id="machine">' in page


def test_a_run_saved_before_the_graph_fields_still_renders() -> None:
    data = small_run(per_op=True).to_json()
    del data["plan"]["nodes"], data["meta"]["cpu_flags"]
    page = render_html(RunResult.from_json(data))
    assert '<section id="graph">' not in page and '<section id="timeline">' in page
    assert "not recorded" in page  # the SIMD flags
