"""Writing a run: <name>.json (the data) and <name>.txt (rendered from it), and any picture,
all or none (atomic.write_files)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from mlxa.atomic import write_files
from mlxa.report.text import render_text
from mlxa.result import RunResult


def render_json(run: RunResult) -> str:
    return json.dumps(run.to_json(), indent=2, allow_nan=False) + "\n"


def write_run(run: RunResult, directory: Path, name: str,
              extra: Mapping[str, bytes] | None = None) -> tuple[Path, ...]:
    """`extra`: more files of the run by suffix (e.g. "_timeline.png": PNG bytes)."""
    files = {directory / f"{name}.json": render_json(run).encode(),
             directory / f"{name}.txt": render_text(run).encode()}
    files.update({directory / f"{name}{suffix}": data for suffix, data in (extra or {}).items()})
    write_files(files)
    return tuple(files)
