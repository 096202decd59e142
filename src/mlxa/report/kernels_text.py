"""The kernel case studies as text: one table per case (studies/kernels.py)."""

from __future__ import annotations

from collections.abc import Sequence

from mlxa.studies.kernels import CaseResult


def _num(v: float | None, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def render_case(c: CaseResult) -> str:
    lines = [f"{c.name}: {c.description}",
             f"  {c.flops / 1e6:.1f} MFLOP, {c.compulsory_nbytes / 2**20:.2f} MiB compulsory "
             f"traffic; eager error {c.eager_error:.2e}, oracle bound {c.oracle_bound:.2e}",
             f"  {'backend':<17}{'best ms':>9}{'median ms':>10}{'GB/s':>7}{'GFLOP/s':>9}"
             f"{'error':>10}  kernel / note"]
    for r in c.rows:
        tail = r.kernel or r.note
        lines.append(f"  {r.backend:<17}{_num(r.best_ms, '.3f'):>9}{_num(r.median_ms, '.3f'):>10}"
                     f"{_num(r.gb_per_s, '.1f'):>7}{_num(r.gflop_per_s, '.1f'):>9}"
                     f"{_num(r.error, '.1e'):>10}  {tail}")
    return "\n".join(lines)


def render_text(cases: Sequence[CaseResult], header: str = "") -> str:
    parts = [header] if header else []
    parts += [render_case(c) for c in cases]
    parts.append("GB/s and GFLOP/s at the best time against the compulsory traffic (inputs, "
                 "weights, outputs once) and the op table's FLOPs; error: max |y - ref| / "
                 "max |ref|, ref in float64")
    return "\n\n".join(parts)
