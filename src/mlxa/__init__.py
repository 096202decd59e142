"""mlxa: the ML eXecution Analyzer.

Runs a model eagerly and compiler-style (static memory plan, in-place, fusion) and measures what
the difference is worth: latency, peak memory, allocations and correctness, side by side.
"""

from __future__ import annotations

import os
from typing import Any

__version__ = "0.1.0"

# Idle OpenMP threads (torch's, under the prepacked kernels) sleep instead of spinning: the
# compiled executor alternates torch's products with OpenBLAS's and Numba's work, and spinning
# workers then take the cores the next call needs (MobileNetV2 with two threads ran 0.16x of
# eager spinning, 1.34x passive). Set before torch is imported; a user's own setting is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def __getattr__(name: str) -> Any:
    """PEP 562: `mlxa.from_torch` is imported on first use; importing mlxa never imports torch."""
    if name == "from_torch":
        from mlxa.frontends.torch_import import from_torch

        return from_torch
    raise AttributeError(f"module 'mlxa' has no attribute {name!r}")
