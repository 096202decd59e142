"""The fusion study's picture, the seed's: per chain, this machine's roofline with every backend
at every size, eager in red and compiled (JIT) in green; larger markers for larger sizes. All
backends of a chain share one intensity, so they are spread a little along x to stay apart."""

from __future__ import annotations

import numpy as np

from mlxa.machine.ceilings import Ceilings
from mlxa.report.ceilings_plot import draw_roofline, png_bytes, pyplot
from mlxa.studies.fusion import FusionResult

COLOURS = {"eager": "tab:red", "jit": "tab:green"}
MARKERS = {"numpy": "o", "torch": "s", "mlxa": "*", "xla": "^", "inductor": "D", "ort": "v"}


def fusion_png(result: FusionResult, ceilings: Ceilings) -> bytes:
    plt = pyplot()
    n = len(result.chains)
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 5), squeeze=False)
    for ax, chain in zip(axes[0], result.chains):
        x0 = chain.intensity_flops_per_byte
        draw_roofline(ax, ceilings, (x0 / 8, x0 * 8))
        sizes = [s.x_nbytes for s in chain.sizes]
        for k, backend in enumerate(result.backends):
            shift = 1.07 ** (k - len(result.backends) / 2)
            for s in chain.sizes:
                cell = s.cell(backend)
                if cell is None:
                    continue
                gflops = chain.flops_per_element * (s.x_nbytes / 4) / cell.time.median_s / 1e9
                area = 12 + 60 * np.log2(s.x_nbytes / min(sizes) + 1)
                ax.scatter([x0 * shift], [gflops], s=area, color=COLOURS[cell.kind],
                           marker=MARKERS.get(backend, "o"), alpha=0.6, edgecolors="k",
                           linewidths=0.3,
                           label=f"{backend} ({cell.kind})" if s is chain.sizes[-1] else None)
        ax.set_title(f"{chain.name}: {chain.label}", fontsize=10)
    handles, labels = axes[0][-1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=6, fontsize=7, markerscale=0.4,
               bbox_to_anchor=(0.5, -0.12))
    fig.suptitle("Eager (red) vs JIT (green) on this machine's roofline; marker size = working "
                 "set", fontsize=10)
    return png_bytes(fig)
