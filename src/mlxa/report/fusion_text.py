"""`mlxa fusion` as text: per chain, achieved bandwidth of every backend at every size with its
fraction of copy, the kernels each ran, the eager/JIT ratios, and where the chain is bound."""

from __future__ import annotations

import json

from mlxa.studies.fusion import PAIRS, ChainRun, FusionResult, SizeRun
from mlxa.units import format_nbytes


def render_json(result: FusionResult) -> str:
    return json.dumps(result.to_json(), indent=2, allow_nan=False) + "\n"


def render_fusion_text(r: FusionResult) -> str:
    m = r.meta
    lines = [f"mlxa fusion: {m.get('cpu')}, {r.threads} thread(s) per backend, {m.get('date')}"
             + (f", load average {m['load_average']:.1f}" if m.get("load_average") is not None
                else ""),
             "GB/s = the chain's minimum traffic (read x and b, write y once) over the median "
             "time; [p10..p90]; (% of a ufunc copy at that size, same rounds); alloc = the same "
             "copy into a result allocated per call", ""]
    for chain in r.chains:
        lines += _chain(chain, r.backends) + [""]
    for s in r.skipped:
        lines.append(f"skipped {s.backend} ({s.chain}): {s.note}")
    lines += [f"warning: {w}" for w in r.warnings]
    return "\n".join(lines) + "\n"


def _chain(c: ChainRun, backends: tuple[str, ...]) -> list[str]:
    present = [b for b in backends if any(s.cell(b) for s in c.sizes)]
    lines = [f"{c.name} ({c.label}): {_clean(c.expr)}; {c.flops_per_element} FLOP/element, "
             f"{c.intensity_flops_per_byte:.2f} FLOP/byte",
             f"  {'x size':>9} {'copy':>6} {'alloc':>6}  " + "".join(f"{b:>22}" for b in present)]
    for s in c.sizes:
        cells = []
        for b in present:
            cell = s.cell(b)
            cells.append(f"{_rate(s, cell):>22}" if cell else f"{'-':>22}")
        lines.append(f"  {format_nbytes(s.x_nbytes):>9} {s.copy_bytes_per_s / 1e9:6.1f} "
                     f"{s.copy_alloc_bytes_per_s / 1e9:6.1f}  " + "".join(cells))
    kernels = {b: next((s.cell(b).kernels for s in c.sizes if s.cell(b)), None)  # type: ignore[union-attr]
               for b in present}
    lines.append("  kernels per call: " + ", ".join(
        f"{b} {k if k is not None else '?'}" for b, k in kernels.items()))
    for eager, jit in PAIRS:
        ratios = [s.ratio(eager, jit) for s in c.sizes]
        if any(x is not None for x in ratios):
            lines.append(f"  {eager}/{jit} time ratio by size: " + "  ".join(
                f"{x:.2f}x" if x is not None else "-" for x in ratios))
    lines.append("  " + bound_note(c))
    return lines


def _rate(s: SizeRun, cell: object) -> str:
    from mlxa.studies.fusion import Cell

    assert isinstance(cell, Cell)
    t = cell.time
    return (f"{s.bytes_per_s(cell) / 1e9:5.1f} [{s.traffic_nbytes / t.p90_s / 1e9:.0f}.."
            f"{s.traffic_nbytes / t.p10_s / 1e9:.0f}] ({s.copy_fraction(cell):3.0%})")


def bound_note(c: ChainRun) -> str:
    """Memory- or compute-bound at the largest size: compute-bound when even in cache the best
    compiled backend cannot reach the best copy rate of the largest size."""
    last = c.sizes[-1]
    in_cache = [(s.bytes_per_s(cell), cell.backend, s.x_nbytes) for s in c.sizes[:-1]
                for cell in s.cells if cell.kind == "jit"]
    if not in_cache:
        return "bound: one size only, not judged"
    rate, backend, size = max(in_cache)
    copy = last.copy_best_bytes_per_s
    verdict = "compute-bound" if rate < copy else "memory-bound"
    return (f"at {format_nbytes(last.x_nbytes)}: {verdict} (best compiled rate in cache "
            f"{rate / 1e9:.1f} GB/s, {backend} at {format_nbytes(size)}, vs the best copy "
            f"{copy / 1e9:.1f} GB/s at this size)")


def _clean(text: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text)
