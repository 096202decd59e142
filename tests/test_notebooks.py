"""The case-study notebooks (notebooks/*.py, jupytext percent format) execute end to end.

Each source is converted with jupytext and executed with nbclient in a fresh kernel, as it is
written (FAST = True: small sizes, short budgets), within a per-cell timeout and a budget for the
whole notebook. One test per notebook, so a slow or broken one is named on its own.

A notebook needs its study module: while that module has not landed in the tree the notebook is
skipped with the reason; once the module's file exists, a notebook that fails is a failure. The
ceilings cache is pointed at a temporary folder, so a run never writes to the user's cache.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SRC = ROOT / "src"

# notebook -> the modules it drives (src/ paths): the notebook runs once they all exist
STUDIES: dict[str, tuple[str, ...]] = {
    "01_memory_planning.py": ("mlxa/compiler/program.py", "mlxa/planners/outcome.py",
                              "mlxa/session.py"),
    "02_fusion_roofline.py": ("mlxa/studies/fusion.py", "mlxa/analysis/roofline_run.py",
                              "mlxa/machine/ceilings.py"),
    "03_int8_quantization.py": ("mlxa/studies/quantization.py",),
    "04_layouts.py": ("mlxa/studies/layout.py",),
    "05_sparsity.py": ("mlxa/studies/sparsity.py", "mlxa/studies/sparsity_models.py"),
    "06_custom_kernels.py": ("mlxa/studies/kernels.py", "mlxa/studies/ablation.py"),
}
CELL_TIMEOUT_S = 150  # one cell; the slowest (sparsity's dense runtimes) takes about 20 s busy
NOTEBOOK_BUDGET_S = 240  # the whole notebook; each runs in 10 to 45 s on the busy 2-core VM


def _tools():
    pytest.importorskip("ipykernel", reason="the notebooks extra is not installed")
    return (pytest.importorskip("jupytext", reason="the notebooks extra is not installed"),
            pytest.importorskip("nbclient", reason="the notebooks extra is not installed"))


def test_every_notebook_is_listed() -> None:
    """A notebook added under notebooks/ is executed here too, and every listed one exists."""
    assert sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.py")) == sorted(STUDIES)


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_notebook_reads_as_a_story(name: str) -> None:
    """Markdown first, a FAST flag in the first code cell, a picture drawn (cheap: no kernel)."""
    jupytext, _ = _tools()
    nb = jupytext.read(NOTEBOOKS / name)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert code[0].startswith("FAST = True")
    assert any("plt.show()" in c for c in code)
    assert sum(c.cell_type == "markdown" for c in nb.cells) >= 3


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_notebook_executes(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = [m for m in STUDIES[name] if not (SRC / m).is_file()]
    if missing:
        pytest.skip(f"{name}: its study has not landed ({', '.join(missing)} missing)")
    jupytext, nbclient = _tools()
    monkeypatch.setenv("MLXA_CACHE_DIR", str(tmp_path / "cache"))
    nb = jupytext.read(NOTEBOOKS / name)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    t0 = time.perf_counter()
    client.execute()  # a cell that raises fails the test with the cell and its traceback
    elapsed_s = time.perf_counter() - t0
    assert elapsed_s < NOTEBOOK_BUDGET_S, f"{name} took {elapsed_s:.0f} s"
    images = sum("image/png" in out.get("data", {}) for c in nb.cells if c.cell_type == "code"
                 for out in c.get("outputs", []))
    assert images >= 1, f"{name} drew no picture"
