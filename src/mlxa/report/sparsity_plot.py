"""The sparsity study's picture: break-even densities per product shape (CSR, block), and
digits_cnn's top-1 against the fraction of zero weights per pattern."""

from __future__ import annotations

from mlxa.report.ceilings_plot import png_bytes, pyplot
from mlxa.studies.sparsity import SparsityResult


def sparsity_png(r: SparsityResult) -> bytes:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.6))
    labels = ["x".join(map(str, b.shape)) for b in r.break_even]
    for k, (name, colour) in enumerate((("csr", "tab:red"), ("block", "tab:blue"))):
        ys = [getattr(b, f"{name}_density") for b in r.break_even]
        xs = [i + 0.2 * (k - 0.5) for i, y in enumerate(ys) if y is not None]
        left.bar(xs, [100 * y for y in ys if y is not None], width=0.4, color=colour,
                 label=f"{name}: sparse wins below")
    left.set_xticks(range(len(labels)), labels, rotation=60, fontsize=7, ha="right")
    left.set_ylabel("break-even density (% nonzero)")
    left.set_title(f"{r.model}: where sparse beats dense BLAS, per O x K x N", fontsize=10)
    left.legend(fontsize=8)
    for pattern in dict.fromkeys(p.pattern for p in r.accuracy):
        pts = [(100 * p.sparsity, 100 * p.top1) for p in r.accuracy if p.pattern == pattern]
        right.plot(*zip(*pts), marker="o", label=pattern)
    right.axhline(100 * r.dense_top1, color="k", lw=0.6, label="dense")
    right.set_xlabel("weights zero (%)")
    right.set_ylabel("top-1 (%)")
    right.set_title("digits_cnn, pruned without fine-tuning", fontsize=10)
    right.legend(fontsize=8)
    return png_bytes(fig)
