"""The roofline picture of a model: this machine's ceilings (report/ceilings_plot.py) and one
point per node, area = its share of the executor's time; eager red, compiled green."""

from __future__ import annotations

from mlxa.analysis.roofline import RooflineResult
from mlxa.machine.ceilings import Ceilings
from mlxa.report.ceilings_plot import draw_roofline, png_bytes, pyplot

COLOURS = {"eager": "tab:red", "compiled": "tab:green"}


def roofline_png(result: RooflineResult, ceilings: Ceilings) -> bytes:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 6))
    points = [(ex.executor, r) for ex in result.executors for r in ex.rows
              if r.bound != "view" and r.measured_ms > 0 and r.work.flops > 0]
    xs = [r.work.intensity_flops_per_byte for _, r in points] or [1.0]
    draw_roofline(ax, ceilings, (min(min(xs) / 2, 0.05), max(max(xs) * 2, 100.0)))
    ax.axhline(result.peak_flops_per_s / 1e9, color="tab:blue", linestyle=":", linewidth=1.2,
               label=f"FP32 in this run's rounds {result.peak_flops_per_s / 1e9:.0f} GFLOP/s")
    for ex in result.executors:
        mine = [r for key, r in points if key == ex.executor]
        ax.scatter([r.work.intensity_flops_per_byte for r in mine],
                   [r.achieved_flops_per_s / 1e9 for r in mine],
                   s=[max(4.0, 20 * r.share_pct) for r in mine], alpha=0.55,
                   color=COLOURS.get(ex.executor, "tab:blue"), edgecolors="k", linewidths=0.3,
                   label=f"{ex.executor} nodes (area = share of time)")
    ax.set_title(f"Roofline of {result.model}: each node's measured GFLOP/s at its intensity")
    ax.legend(fontsize=7, loc="lower right", markerscale=0.4)
    return png_bytes(fig)
