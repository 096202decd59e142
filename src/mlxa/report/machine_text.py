"""`mlxa machine` as text: the bandwidth curve, its plateaus, the compute peaks, the threads."""

from __future__ import annotations

import json

from mlxa.machine.ceilings import Ceilings
from mlxa.units import format_nbytes, format_rate


def render_json(ceilings: Ceilings) -> str:
    return json.dumps(ceilings.to_json(), indent=2, allow_nan=False) + "\n"


def render_machine_text(c: Ceilings, cache_note: str = "") -> str:
    lines = [f"mlxa machine: {c.machine.get('cpu', '?')}, {c.machine.get('cpus', '?')} CPUs, "
             f"fingerprint {c.fingerprint}",
             f"measured {c.date} in {c.measured_s:.1f} s"
             + (f", load average {c.load_average:.1f}" if c.load_average is not None else "")
             + (f"; {cache_note}" if cache_note else ""), ""]
    lines += _bandwidth(c) + [""] + _plateaus(c) + [""] + _compute(c)
    lines += [f"  warning: {w}" for w in c.warnings]
    return "\n".join(lines) + "\n"


def _bandwidth(c: Ceilings) -> list[str]:
    rows = ["Bandwidth by working set (one thread; best of the trials, median in brackets, "
            "p90/p10 spread)",
            f"  {'working set':>12}  {'copy':>22}  {'triad':>22}  {'spread':>6}"
            f"  {'reread after it':>22}"]
    for p in c.bandwidth:
        copy_med = p.copy_nbytes / p.copy.median_s
        triad_med = p.triad_nbytes / p.triad.median_s
        reread = (_rate(p.reread_bytes_per_s, p.reread_nbytes / p.reread.median_s)
                  if p.reread is not None and p.reread_bytes_per_s else "-")
        rows.append(f"  {format_nbytes(p.working_set_nbytes):>12}  "
                    f"{_rate(p.copy_bytes_per_s, copy_med):>22}  "
                    f"{_rate(p.triad_bytes_per_s, triad_med):>22}  "
                    f"{p.copy.spread_ratio:>5.2f}x  {reread:>22}")
    if c.reread_nbytes:
        rows.append(f"  reread: a {format_nbytes(c.reread_nbytes)} buffer read right after that "
                    "working set's copy: how fast a weight comes back after a round of other "
                    "memory (the roofline's far reads)")
    return rows


def _rate(best: float, median: float) -> str:
    return f"{best / 1e9:.1f} ({median / 1e9:.1f}) GB/s"


def _plateaus(c: Ceilings) -> list[str]:
    rows = ["Plateaus of the copy curve (the cache levels as measured, not as reported)"]
    for p in c.plateaus:
        rows.append(f"  {p.name:<5} {format_nbytes(p.first_nbytes):>9} .. "
                    f"{format_nbytes(p.last_nbytes):<9} {format_rate(p.copy_bytes_per_s, 'B')}")
    return rows


def _compute(c: Ceilings) -> list[str]:
    t = c.fp32_theoretical
    rows = [f"Peak FP32 measured: {format_rate(c.fp32.ops_per_s, 'FLOP')} "
            f"(median {format_rate(c.fp32.ops / c.fp32.time.median_s, 'FLOP')}, "
            f"{c.fp32.time.n} trials), {c.fp32.how}, {c.threads} BLAS threads",
            f"Peak FP32 theoretical: {format_rate(t.flops_per_s, 'FLOP')} = {t.cores} cores x "
            f"{t.ghz:.2f} GHz x {t.simd_lanes} lanes x {t.fma_units} FMA units x 2; "
            f"{t.assumption}",
            f"  GHz from {t.ghz_source}",
            f"  measured / theoretical: {c.fp32.ops_per_s / t.flops_per_s:.0%}"]
    if c.int8 is not None:
        rows.append(f"Peak INT8 measured: {format_rate(c.int8.ops_per_s, 'OP')} "
                    f"({c.int8.ops_per_s / c.fp32.ops_per_s:.1f}x FP32), {c.int8.how}")
    else:
        rows.append(f"Peak INT8: not measured: {c.int8_note}")
    return rows
