"""Pictures of this machine's ceilings: the bandwidth curve (`mlxa machine`), and the roofline
that the roofline and fusion pictures draw their points on. matplotlib is imported here only
(Agg backend); without it, a UserInputError that says what to install."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from mlxa.errors import UserInputError
from mlxa.machine.ceilings import Ceilings
from mlxa.units import format_nbytes


def pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserInputError("pictures need matplotlib: pip install matplotlib") from None
    return plt


def png_bytes(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    return buf.getvalue()


def bandwidth_png(c: Ceilings) -> bytes:
    """Copy and triad (best, with the p10-p90 band) against working set, the reread curve;
    plateaus as lines."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ws = np.array([p.working_set_nbytes for p in c.bandwidth], dtype=float)
    for key, colour in (("copy", "tab:blue"), ("triad", "tab:orange")):
        nbytes = np.array([getattr(p, f"{key}_nbytes") for p in c.bandwidth], dtype=float)
        spreads = [getattr(p, key) for p in c.bandwidth]
        best = nbytes / [s.best_s for s in spreads] / 1e9
        ax.fill_between(ws, nbytes / [s.p90_s for s in spreads] / 1e9,
                        nbytes / [s.p10_s for s in spreads] / 1e9, color=colour, alpha=0.2)
        ax.plot(ws, best, "o-", color=colour, label=f"{key} (best; band p10-p90)")
    reread = [(p.working_set_nbytes, p.reread_bytes_per_s) for p in c.bandwidth
              if p.reread_bytes_per_s is not None]
    if reread:
        ax.plot([w for w, _ in reread], [r / 1e9 for _, r in reread], "s--", color="tab:green",
                label=f"reread of {format_nbytes(c.reread_nbytes)} after a copy of this size "
                      "(best)")
    for p in c.plateaus:
        ax.hlines(p.copy_bytes_per_s / 1e9, p.first_nbytes, p.last_nbytes, colors="k",
                  linewidth=2)
        ax.annotate(f"{p.name} {p.copy_bytes_per_s / 1e9:.0f} GB/s",
                    (p.first_nbytes, p.copy_bytes_per_s / 1e9), textcoords="offset points",
                    xytext=(0, 6), fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("working set (bytes)")
    ax.set_ylabel("GB/s")
    ax.set_title(f"Bandwidth by working set, one thread: {c.machine.get('cpu', '')}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return png_bytes(fig)


def draw_roofline(ax: Any, c: Ceilings, x_range: tuple[float, float]) -> None:
    """The ceilings on log-log axes (FLOP/byte, GFLOP/s): one slanted roof per plateau, the
    measured FP32 peak, the theoretical peak dashed."""
    xs = np.logspace(np.log10(x_range[0]), np.log10(x_range[1]), 200)
    peak = c.peak_flops_per_s / 1e9
    for p, shade in zip(c.plateaus, np.linspace(0.2, 0.7, max(len(c.plateaus), 1))):
        ax.plot(xs, np.minimum(peak, p.copy_bytes_per_s / 1e9 * xs), color=str(shade),
                linewidth=1.2, label=f"{p.name} roof {p.copy_bytes_per_s / 1e9:.0f} GB/s")
    ax.axhline(peak, color="k", linewidth=1.5, label=f"FP32 peak (BLAS) {peak:.0f} GFLOP/s")
    ax.axhline(c.fp32_theoretical.flops_per_s / 1e9, color="k", linestyle="--", linewidth=1,
               label=f"theoretical {c.fp32_theoretical.flops_per_s / 1e9:.0f} GFLOP/s")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP/byte)")
    ax.set_ylabel("GFLOP/s")
    ax.grid(True, which="both", alpha=0.3)
