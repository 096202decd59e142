"""The layout study's picture: per model, each conv's nhwc and nchwc time over its nchw time in
mlxa, torch and ONNX Runtime (below 1: faster than nchw), predicted misses circled."""

from __future__ import annotations

from mlxa.report.ceilings_plot import png_bytes, pyplot
from mlxa.studies.layout import LayoutResult

SERIES = (("mlxa", "nhwc", "tab:blue", "o"), ("mlxa", "nchwc", "tab:cyan", "s"),
          ("torch", "nhwc", "tab:orange", "^"), ("ort", "nchwc", "tab:green", "v"))


def layout_png(result: LayoutResult) -> bytes:
    plt = pyplot()
    n = len(result.models)
    fig, axes = plt.subplots(n, 1, figsize=(12, 3.6 * n), squeeze=False)
    for ax, m in zip(axes[:, 0], result.models):
        xs = range(len(m.convs))
        for runtime, layout, colour, marker in SERIES:
            pts = [(i, getattr(r, f"{runtime}_ms")[layout] / getattr(r, f"{runtime}_ms")["nchw"])
                   for i, r in zip(xs, m.convs)
                   if layout in getattr(r, f"{runtime}_ms")
                   and getattr(r, f"{runtime}_ms").get("nchw", 0) > 0]
            if pts:
                ax.scatter(*zip(*pts), s=14, color=colour, marker=marker,
                           label=f"{runtime} {layout}/nchw")
        misses = [i for i, r in zip(xs, m.convs) if not r.agrees]
        ax.scatter(misses, [1.0] * len(misses), s=90, facecolors="none", edgecolors="red",
                   label="prediction missed")
        ax.axhline(1.0, color="k", lw=0.6)
        ax.set_yscale("log")
        ax.set_xlabel("conv (program order)")
        ax.set_ylabel("time / nchw time")
        ax.set_title(f"{m.model}: prediction agrees on {100 * m.agreement:.0f}% of "
                     f"{len(m.convs)} convs", fontsize=10)
        ax.legend(fontsize=7, ncol=5, loc="upper left")
    fig.tight_layout()
    return png_bytes(fig)
