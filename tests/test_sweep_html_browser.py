"""The sweep's HTML page in a real browser (headless Chromium over the DevTools pipe, as
test_html_browser.py): it loads with no console error and nothing fetched but its own inline
images (data: URLs), shows its figures decoded and every cell in a sortable table, and a
hostile model name stays text. Skipped without Chromium, duckdb or matplotlib."""

from __future__ import annotations

import pytest
from chromium import browser, find_chromium
from test_sweep import _row

pytest.importorskip("duckdb")
pytest.importorskip("matplotlib")

from mlxa.atomic import write_files
from mlxa.sweep.grid import NOT_APPLICABLE, Cell
from mlxa.sweep.html import html_available
from mlxa.sweep.report import report_files
from mlxa.sweep.store import Store

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None or not html_available(),
                                reason="no chromium binary on PATH, or no HTML report")


def test_the_sweep_page_loads_clean_with_its_figures_and_cells(tmp_path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        for model in ("mlp", "<img src=x onerror=alert(1)>"):
            for batch in (1, 2, 4):
                store.write_cell(_row(Cell(model, batch, "fp32", "eager", NOT_APPLICABLE)))
                store.write_cell(_row(Cell(model, batch, "fp32", "compiled", "best"),
                                      speedup_ratio=1.5, speedup_low_ratio=1.2,
                                      speedup_high_ratio=1.8, correct=True, arena_nbytes=64))
        files = report_files(store, tmp_path)
    write_files(files)
    assert CHROMIUM is not None
    with browser(CHROMIUM, 1280, 900) as chrome:
        page = chrome.load(tmp_path / "sweep.html")
        assert not page.errors, page.errors
        assert [u for u in page.requests if not u.startswith("data:")] == []
        images = chrome.evaluate("Array.from(document.images).map(i => i.naturalWidth)")
        assert len(images) == 2 and min(images) > 100  # latency, memory: decoded
        assert chrome.evaluate("document.querySelectorAll('#cells table.sortable tbody tr')"
                               ".length") == 12
        assert chrome.evaluate("document.querySelectorAll('main img[src=x]').length") == 0
