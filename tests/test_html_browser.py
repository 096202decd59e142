"""The HTML reports in a real browser (headless Chromium over the DevTools pipe): each zoo
model's page loads with no console error, no uncaught exception and no network request, shows
its figures in the DOM, is not blank on screen, and its script works (sorting, zooming). Skipped
where no Chromium is installed; CI installs it (.ci/run), so nothing skips there."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from chromium import browser, find_chromium
from html_runs import hostile_run, zoo_run

from mlxa.report.html import render_html
from mlxa.report.html_diff import render_diff_html
from mlxa.report.svg_roofline import Ceilings

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (CI "
                                "installs one; or set MLXA_CHROMIUM)")
MAX_LOAD_S = 2.0
MAX_NBYTES = 5 << 20

FIGURES = {  # what each page must show, as DOM queries and the least count
    "graph nodes": ("#graph svg g.node", 1),
    "timeline buffers": ("#timeline svg rect", 2),
    "roofline points": ("#roofline svg circle.pt", 1),
    "per-op rows": ("#per-op table.sortable tbody tr", 1),
    "machine facts": ("#machine dl.kv dt", 5),
}


@pytest.fixture(scope="module")
def chrome():
    assert CHROMIUM is not None
    with browser(CHROMIUM, 1280, 900) as b:
        yield b


def count(chrome, selector: str) -> int:
    return chrome.evaluate(f"document.querySelectorAll({selector!r}).length")


def load_clean(chrome, path: Path):
    page = chrome.load(path)
    assert not page.errors, page.errors
    assert not page.requests, page.requests
    return page


def pixel_spread(png: bytes) -> float:
    image = pytest.importorskip("PIL.Image")
    np = pytest.importorskip("numpy")
    pixels = np.asarray(image.open(io.BytesIO(png)).convert("L"), dtype=float)
    return float(pixels.std())


@pytest.mark.parametrize("name", ["mlp", "small_cnn", "transformer", "resnet50"])
def test_zoo_report_loads_clean_and_shows_its_figures(chrome, tmp_path, name) -> None:
    path = tmp_path / f"{name}.html"
    path.write_text(render_html(zoo_run(name)))
    assert path.stat().st_size < MAX_NBYTES
    page = load_clean(chrome, path)
    assert page.load_s < MAX_LOAD_S, page.load_s
    for what, (selector, least) in FIGURES.items():
        assert count(chrome, selector) >= least, what
    assert count(chrome, "#graph svg g.node") == len(zoo_run(name).plan.nodes)
    assert pixel_spread(chrome.screenshot()) > 10  # not a blank page


def test_resnet50_page_is_small_and_fast(chrome, tmp_path) -> None:
    run = zoo_run("resnet50")
    assert run.model.nodes >= 170
    path = tmp_path / "resnet50.html"
    path.write_text(render_html(run))
    assert path.stat().st_size < MAX_NBYTES
    page = load_clean(chrome, path)
    assert page.load_s < MAX_LOAD_S
    shot = chrome.screenshot(full_page=True)
    assert pixel_spread(shot) > 10


def test_sorting_and_zooming_work(chrome, tmp_path) -> None:
    path = tmp_path / "r.html"
    path.write_text(render_html(zoo_run("small_cnn")))
    load_clean(chrome, path)
    first_ms = ("Array.from(document.querySelectorAll('#per-op table.sortable')[0].tBodies[0]"
                ".rows).map(r => Number(r.cells[4].getAttribute('data-v')))")
    chrome.evaluate("document.querySelector('#per-op table.sortable th:nth-child(5)').click()")
    ascending = chrome.evaluate(first_ms)
    assert ascending == sorted(ascending)
    box = "document.querySelector('#graph svg').getAttribute('viewBox')"
    before = chrome.evaluate(box)
    chrome.evaluate("document.querySelector('#graph button[data-z=\"in\"]').click()")
    after = chrome.evaluate(box)
    assert float(after.split()[2]) < float(before.split()[2])  # a narrower view: zoomed in
    assert not chrome.load(path).errors


def test_hostile_names_stay_text(chrome, tmp_path) -> None:
    path = tmp_path / "evil.html"
    path.write_text(render_html(hostile_run(), Ceilings(1e11, (("DRAM", 2e10),), "<b>x</b>")))
    load_clean(chrome, path)
    assert chrome.evaluate("typeof window.pwned") == "undefined"
    assert count(chrome, "img") == 0 and count(chrome, "script") == 1
    assert "<script>" in chrome.evaluate("document.querySelector('header h1').textContent")


def test_two_runs_side_by_side_load_clean(chrome, tmp_path) -> None:
    path = tmp_path / "diff.html"
    path.write_text(render_diff_html(zoo_run("mlp"), zoo_run("mlp", per_op=False)))
    load_clean(chrome, path)
    assert count(chrome, "#diff table tbody tr") >= 5
    assert count(chrome, "#graph .cols svg g.node") == 2 * len(zoo_run("mlp").plan.nodes)


def test_the_harness_sees_errors_and_requests(chrome, tmp_path) -> None:
    """A page that logs an error, throws and fetches: each is caught (the checks can fail)."""
    path = tmp_path / "bad.html"
    path.write_text("<!DOCTYPE html><html><body><img src='http://127.0.0.1:9/x.png'>"
                    "<script>console.error('boom'); undefined_name();</script></body></html>")
    page = chrome.load(path)
    assert any("boom" in e for e in page.errors)
    assert any("undefined_name" in e for e in page.errors)
    assert page.requests == ["http://127.0.0.1:9/x.png"]
