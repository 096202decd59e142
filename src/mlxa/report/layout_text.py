"""Renderers of the layout study (studies/layout.py): text, JSON, and the JSON read back."""

from __future__ import annotations

import json
from typing import Any

from mlxa.studies.layout import LAYOUTS, LayoutResult, ModelLayouts


def render_json(result: LayoutResult) -> str:
    return json.dumps(result.to_json(), indent=2, allow_nan=False) + "\n"


def load_json(data: dict[str, Any]) -> LayoutResult:
    return LayoutResult.from_json(data)


def _ms(table: dict[str, float], key: str) -> str:
    return f"{table[key]:7.2f}" if key in table else "      -"


def _model_text(m: ModelLayouts, block: int) -> list[str]:
    lines = [f"== {m.model} (batch {m.batch}, {m.image}x{m.image}): {len(m.convs)} convs; "
             f"prediction agrees on {100 * m.agreement:.0f}% "
             f"(strictly fastest: {100 * m.agreement_strict:.0f}%; on the {m.decisive} convs "
             f"with a clear winner: {100 * m.agreement_decisive:.0f}%)",
             f"{'conv':28} {'x (nchw)':>17} {'w':>17} {'kernel':>9} | mlxa ms: "
             f"{'nchw':>7} {'nhwc':>7} {'nchwc':>7} | torch: {'nchw':>7} {'nhwc':>7} | "
             f"ort: {'nchw':>7} {'nchwc':>7} {'reord':>7} | inner%simd C/W | pred  meas"]
    for r in m.convs:
        simd = "".join("y" if r.simd_multiple[k] else "n" for k in ("nhwc", "nchw"))
        mark = "ok" if r.agrees else "MISS"
        lines.append(
            f"{r.name[:28]:28} {'x'.join(map(str, r.x_shape)):>17} "
            f"{'x'.join(map(str, r.w_shape)):>17} {r.kernel:>9} |          "
            + " ".join(_ms(r.mlxa_ms, k) for k in LAYOUTS) + " |        "
            + " ".join(_ms(r.torch_ms, k) for k in ("nchw", "nhwc")) + " |      "
            + " ".join(_ms(r.ort_ms, k) for k in ("nchw", "nchwc", "nchwc_reorder"))
            + f" | {r.innermost['nhwc']:>4}/{r.innermost['nchw']:<4} {simd} | "
            f"{r.predicted:5} {r.measured:5} {mark}")
    lines.append("whole model, compiled in each layout (relayouts = the transposes inserted):")
    for t in m.transposes:
        lines.append(f"  {t.layout:6} {t.model_ms:9.2f} ms  relayouts {t.relayouts}  "
                     f"{t.relayout_ms:7.3f} ms = {100 * t.share:5.2f}% of node time")
    lines += _summary(m) + _alone(m)
    return lines


def _alone(m: ModelLayouts) -> list[str]:
    """What a relayout in and out of every conv would cost, against the conv time."""
    lines = []
    for runtime, layout in (("mlxa", "nhwc"), ("mlxa", "nchwc"), ("torch", "nhwc")):
        tables = [getattr(r, f"{runtime}_ms") for r in m.convs]
        tables = [t for t in tables if f"{layout}_relayout" in t]
        if tables:
            relayout = sum(t[f"{layout}_relayout"] for t in tables)
            convs = sum(t[layout] for t in tables)
            lines.append(f"  {runtime:5} {layout}: a relayout in and out of every conv would "
                         f"add {relayout:.1f} ms = {100 * relayout / convs:.0f}% of the {layout} "
                         f"convs' {convs:.1f} ms")
    return lines


def _summary(m: ModelLayouts) -> list[str]:
    lines = []
    for runtime, pairs in (("mlxa", ("nchw", "nhwc", "nchwc")), ("torch", ("nchw", "nhwc")),
                           ("ort", ("nchw", "nchwc"))):
        tables = [getattr(r, f"{runtime}_ms") for r in m.convs]
        tables = [t for t in tables if all(k in t for k in pairs)]
        if not tables:
            continue
        sums = {k: sum(t[k] for t in tables) for k in pairs}
        wins = {k: sum(min(pairs, key=lambda p: t[p]) == k for t in tables) for k in pairs}
        lines.append(f"  {runtime:5} conv time summed: " + ", ".join(
            f"{k} {sums[k]:.1f} ms (fastest on {wins[k]})" for k in pairs)
            + f"; {pairs[1]}/{pairs[0]} = {sums[pairs[1]] / sums[pairs[0]]:.2f}")
    tables = [r.ort_ms for r in m.convs if "nchwc_reorder" in r.ort_ms]
    if tables:
        reorder, convs = (sum(t[k] for t in tables) for k in ("nchwc_reorder", "nchwc"))
        lines.append(f"  ort   nchwc: the reorders its transformer puts around each conv run alone "
                     f"add {reorder:.1f} ms = {100 * reorder / convs:.0f}% of its nchwc convs' "
                     f"{convs:.1f} ms")
    return lines


def render_text(result: LayoutResult) -> str:
    lines = [f"mlxa layout: SIMD width {result.simd_floats} floats, nchwc block "
             f"{result.block}, {result.threads} thread(s); {result.meta.get('cpu', '')}"]
    lines += [f"warning: {w}" for w in result.warnings]
    for m in result.models:
        lines += [""] + _model_text(m, result.block)
    lines += ["", "prediction rule: " + result.rule]
    return "\n".join(lines) + "\n"
