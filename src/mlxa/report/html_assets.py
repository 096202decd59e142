"""The HTML report's style sheet and script (package data: assets/report.css, assets/report.js),
inlined into every page so the file opens offline.

The script does three things and nothing else: sorts a table when its header is clicked, zooms
(wheel, buttons) and pans (drag) an SVG figure by its viewBox, and fits a figure to its frame. It
fetches nothing; the page's Content-Security-Policy forbids any request, so a bug cannot leak.
"""

from __future__ import annotations

import functools
from importlib import resources

CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "img-src data:; base-uri 'none'; form-action 'none'")


@functools.cache
def asset(name: str) -> str:
    """The text of assets/NAME, read once."""
    return resources.files("mlxa.report").joinpath("assets", name).read_text(encoding="utf-8")
