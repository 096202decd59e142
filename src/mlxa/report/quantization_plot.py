"""`mlxa quantize` as a picture: three bar panels per model (parameter bytes, latency, output
SQNR), FP32 beside INT8, from the study's JSON data. matplotlib is imported here only."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from mlxa.errors import UserInputError

SIZE_BARS = (("FP32", "fp32_nbytes"), ("INT8", "int8_nbytes"))
LATENCY_BARS = (("mlxa FP32", "mlxa_fp32"), ("mlxa INT8", "mlxa_int8"), ("ORT FP32", "ort_fp32"),
                ("ORT mlxa QDQ", "ort_mlxa_qdq"), ("ORT quantize_static", "ort_quantize_static"))
SQNR_BARS = (("mlxa INT8", "mlxa_int8"), ("ORT mlxa QDQ", "ort_mlxa_qdq"),
             ("ORT quantize_static", "ort_quantize_static"))


def quantization_png(report: Mapping[str, Any]) -> bytes:
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt
    except ImportError:
        raise UserInputError("the PNG needs matplotlib (pip install 'mlxa[plots]')") from None
    models = report["models"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    _panel(axes[0], models, SIZE_BARS, lambda s, k: s["size"][k] / 2 ** 20, "parameters (MiB)",
           log=True)
    for i, s in enumerate(models):  # the ratio over each model's pair
        axes[0].annotate(f"{s['size']['ratio']:.2f}x", (i, s["size"]["fp32_nbytes"] / 2 ** 20),
                         ha="center", va="bottom", fontsize=8)
    _panel(axes[1], models, LATENCY_BARS, lambda s, k: s["latency_ms"].get(k), "latency (ms)",
           log=True)
    _panel(axes[2], models, SQNR_BARS, lambda s, k: s["accuracy"]["output_sqnr_db"].get(k),
           "output SQNR vs FP32 (dB, higher is better)")
    fig.suptitle(f"FP32 vs INT8 on {report['meta']['cpu']}, {report['meta']['threads']} "
                 f"thread(s)")
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=100)
    plt.close(fig)
    return out.getvalue()


def _panel(ax: Any, models: list[Mapping[str, Any]], bars: tuple[tuple[str, str], ...],
           value: Any, title: str, log: bool = False) -> None:
    width = 0.8 / len(bars)
    for j, (label, key) in enumerate(bars):
        heights = [value(s, key) for s in models]
        xs = [i + (j - (len(bars) - 1) / 2) * width for i in range(len(models))]
        ax.bar([x for x, h in zip(xs, heights) if h is not None],
               [h for h in heights if h is not None], width, label=label)
    ax.set_xticks(range(len(models)), [s["model"] for s in models])
    ax.set_title(title)
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=7)
