"""Writing a run to reports/<name>.json (the data) and <name>.txt (rendered from it), atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlxa.atomic import write_text
from mlxa.report.text import render_text


def render_json(run: dict[str, Any]) -> str:
    return json.dumps(run, indent=2, sort_keys=False) + "\n"


def write_run(run: dict[str, Any], directory: Path, name: str) -> tuple[Path, Path]:
    json_path, text_path = directory / f"{name}.json", directory / f"{name}.txt"
    write_text(json_path, render_json(run))
    write_text(text_path, render_text(run))
    return json_path, text_path
