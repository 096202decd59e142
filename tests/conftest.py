"""Shared test configuration: `--update-golden` rewrites golden text files instead of comparing;
the `kernels_forced` fixture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files")


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """golden(name, text): compare text with tests/golden/<name>, or rewrite it when asked."""
    update = request.config.getoption("--update-golden")

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if update or not path.exists():
            if not update:
                pytest.fail(f"golden file {name} missing; run pytest --update-golden")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        assert text == path.read_text(), f"output differs from golden file {name}"

    return check


@pytest.fixture
def kernels_forced() -> Iterator[None]:
    """Bind-time trials keep the kernel (kernels/trial.py forced), so that a test of a kernel
    runs the kernel itself."""
    from mlxa.kernels.trial import forced

    with forced():
        yield
