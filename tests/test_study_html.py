"""`--html` on every case-study command: each writes <name>.html with its other files, the page
shows the run's own figures (tables built from the typed data, the picture inline), every hostile
string stays text, `--html` without `--out` is one line and exit 2, and every page loads in
headless Chromium with no console error and no request (skipped without Chromium).

Each command runs once, in process, at its smallest sizes and budgets; the page renderers are
wrapped so the tests also see the typed data each page was rendered from."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from ceilings_fake import fake_ceilings
from chromium import browser, find_chromium

from mlxa.cli.main import main
from mlxa.report import study_html

pytest.importorskip("matplotlib")

EVIL = '<script>window.pwned=1</script><img src=x onerror="alert(1)">&amp;'
COMMANDS = {  # name: (argv after the command, the page's file name)
    "machine": (["--quick"], "machine.html"),
    "roofline": (["--model", "small_cnn", "--budget", "0.05", "--ceilings", "{machine}"],
                 "small_cnn_roofline.html"),
    "fusion": (["--only-expr", "--expr", "x * tanh(x + b)", "--sizes", "16K", "--backends",
                "numpy,mlxa", "--budget", "0.01", "--ceilings", "{machine}"], "fusion.html"),
    "quantize": (["--model", "mlp", "--no-ort", "--budget", "0.1", "--eval", "1",
                  "--calibration-batches", "1"], "mlp.html"),
    "layout": (["--models", "resnet18", "--image", "32", "--budget", "0.001", "--backends",
                "mlxa"], "layout.html"),
    "sparsity": (["--model", "small_cnn", "--image", "16", "--probe-budget", "0.01",
                  "--model-budget", "0.05", "--no-accuracy"], "sparsity.html"),
    "kernels": (["--case", "softmax", "--budget", "0.02", "--no-compilers"], "kernels.html"),
}
RENDERER = {"machine": "machine_html", "roofline": "roofline_html", "fusion": "fusion_html",
            "quantize": "quantize_html", "layout": "layout_html", "sparsity": "sparsity_html",
            "kernels": "kernels_html"}


@dataclasses.dataclass
class Page:
    path: Path
    html: str
    args: tuple[Any, ...]  # what the renderer was called with


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Page]:
    root = tmp_path_factory.mktemp("studies")
    machine = root / "fake_machine.json"
    machine.write_text(json.dumps(fake_ceilings().to_json()))
    seen: dict[str, tuple[Any, ...]] = {}
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLXA_CACHE_DIR", str(root / "cache"))
        for name, fn in RENDERER.items():
            original = getattr(study_html, fn)
            mp.setattr(study_html, fn, lambda *a, _n=name, _f=original: (
                seen.__setitem__(_n, a), _f(*a))[1])
        for name, (argv, page) in COMMANDS.items():
            d = root / name
            args = [a.replace("{machine}", str(machine)) for a in argv]
            assert main([name, *args, "--out", str(d), "--html"]) == 0, name
            out[name] = Page(d / page, (d / page).read_text(encoding="utf-8"), seen[name])
    return out


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_page_is_written_with_the_other_files(pages, name) -> None:
    p = pages[name]
    stem = p.path.stem
    files = {f.name for f in p.path.parent.iterdir()}
    assert {f"{stem}.json", f"{stem}.txt", f"{stem}.html"} <= files
    html = p.html
    assert html.startswith("<!DOCTYPE html>") and "default-src 'none'" in html
    for anchor in ("summary", "machine", "text"):
        assert f'<section id="{anchor}">' in html
    assert 'class="cards"' in html and 'class="how"' in html
    assert html.count('<table class="sortable">') >= 2
    if name not in ("kernels", "roofline"):  # those two have no PNG; the roofline is an SVG
        assert html.count('src="data:image/png;base64,iVBOR') == 1


def rows(html: str, anchor: str) -> int:
    return html.split(f'<section id="{anchor}">')[1].split("</section>")[0].count("<tr>") - 1


def test_the_tables_come_from_the_data(pages) -> None:
    c = pages["machine"].args[0]
    assert rows(pages["machine"].html, "bandwidth") == len(c.bandwidth)
    assert c.fingerprint in pages["machine"].html
    r = pages["roofline"].args[0]
    compiled = next(ex for ex in r.executors if ex.executor == "compiled")
    assert rows(pages["roofline"].html, "nodes-compiled") == len(compiled.rows)
    assert pages["roofline"].html.count('class="pt"') > 0 and "fake" in pages["roofline"].html
    f = pages["fusion"].args[0]
    assert rows(pages["fusion"].html, "cells") == sum(len(s.cells) for c in f.chains
                                                       for s in c.sizes)
    q = pages["quantize"].args[0]
    assert f"{q['models'][0]['size']['ratio']:.2f}x" in pages["quantize"].html
    lay = pages["layout"].args[0]
    assert rows(pages["layout"].html, "convs") == len(lay.models[0].convs)
    s = pages["sparsity"].args[0]
    assert f"{s.channel.compiled_speedup:.2f}x" in pages["sparsity"].html
    k = pages["kernels"].args[0]
    assert rows(pages["kernels"].html, "backends") == len(k[0].rows)


def hostile(name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The same data with a hostile string in the machine's name and the text report."""
    data, rest = args[0], list(args[1:])
    if name == "quantize":
        data = {**data, "meta": {**data["meta"], "cpu": EVIL},
                "models": [{**m, "model": EVIL} for m in data["models"]]}
    elif name == "kernels":
        rest[0] = {"cpu": EVIL}
    elif name == "machine":
        data = dataclasses.replace(data, machine={"cpu": EVIL}, fingerprint=EVIL)
    else:
        data = dataclasses.replace(data, meta={"cpu": EVIL})
    text_at = 1 if name in ("roofline", "kernels") else 0
    rest[text_at] = EVIL
    return (data, *rest)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_hostile_strings_stay_text(pages, name) -> None:
    html = getattr(study_html, RENDERER[name])(*hostile(name, pages[name].args))
    assert EVIL not in html and "&lt;script&gt;" in html
    assert html.count("<script>") == 1 and "<img src=x" not in html


@pytest.mark.parametrize("name", list(COMMANDS))
def test_html_without_out_is_one_line_and_exit_2(capsys, name) -> None:
    assert main([name, "--html"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--html needs --out" in err[0], err


@pytest.mark.skipif(find_chromium() is None, reason="no chromium binary on PATH (CI installs "
                    "one; or set MLXA_CHROMIUM)")
def test_every_page_loads_clean_in_a_browser(pages) -> None:
    chromium = find_chromium()
    assert chromium is not None
    with browser(chromium, 1280, 900) as chrome:
        for name, p in pages.items():
            load = chrome.load(p.path)
            assert not load.errors, (name, load.errors)
            assert [u for u in load.requests if not u.startswith("data:")] == [], name
            assert chrome.evaluate("document.querySelectorAll('table.sortable').length") >= 2
            assert chrome.evaluate("Array.from(document.images).every(i => i.naturalWidth > 0)")
            chrome.evaluate("document.querySelector('table.sortable th:nth-child(2)').click()")
        assert chrome.evaluate("typeof window.pwned") == "undefined"
