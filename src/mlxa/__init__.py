"""mlxa: the ML eXecution Analyzer.

Runs a model eagerly and compiler-style (static memory plan, in-place, fusion) and measures what
the difference is worth: latency, peak memory, allocations and correctness, side by side.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """PEP 562: `mlxa.from_torch` is imported on first use; importing mlxa never imports torch."""
    if name == "from_torch":
        from mlxa.frontends.torch_import import from_torch

        return from_torch
    raise AttributeError(f"module 'mlxa' has no attribute {name!r}")
