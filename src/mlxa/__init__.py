"""mlxa: the ML eXecution Analyzer.

Runs a model eagerly and compiler-style (static memory plan, in-place, fusion) and measures what
the difference is worth: latency, peak memory, allocations and correctness, side by side.
"""

from __future__ import annotations

__version__ = "0.1.0"
