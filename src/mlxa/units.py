"""Units as people read them: bytes (binary prefixes), FLOPs, milliseconds, rates. The one place
numbers get their units in text, so every report and table writes them alike."""

from __future__ import annotations


def format_nbytes(n: float) -> str:
    """1536 -> '1.5 KiB'; whole numbers drop their '.0'."""
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}".replace(".0 ", " ")
    return f"{int(n)} B"


def format_flops(flops: float) -> str:
    for unit, scale in (("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6), ("kFLOP", 1e3)):
        if flops >= scale:
            return f"{flops / scale:,.1f} {unit}"
    return f"{flops:.0f} FLOP"


def format_ms(ms: float) -> str:
    """Three significant-ish decimals: 0.0123 ms, 1.234 ms, 1234.5 ms."""
    if ms >= 100:
        return f"{ms:,.1f} ms"
    if ms >= 0.1:
        return f"{ms:.3f} ms"
    return f"{ms:.4f} ms"


def format_rate(per_s: float, unit: str) -> str:
    """A per-second rate with a decimal prefix: format_rate(2.5e9, 'B') -> '2.50 GB/s'."""
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if per_s >= scale:
            return f"{per_s / scale:.2f} {prefix}{unit}/s"
    return f"{per_s:.0f} {unit}/s"
