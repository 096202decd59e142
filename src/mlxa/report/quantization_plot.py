"""`mlxa quantize` as a picture: bar panels per model (parameter bytes, latency, output SQNR, and
with ceilings the conv/matmul throughput against the FP32 and INT8 roofs), FP32 beside INT8, from
the study's JSON data. matplotlib is imported here only."""

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
    roofs = [s["roofs"] for s in models if s.get("roofs")]
    fig, axes = plt.subplots(1, 4 if roofs else 3, figsize=(20 if roofs else 15, 4.5))
    _panel(axes[0], models, SIZE_BARS, lambda s, k: s["size"][k] / 2 ** 20, "parameters (MiB)",
           log=True)
    for i, s in enumerate(models):  # the ratio over each model's pair
        axes[0].annotate(f"{s['size']['ratio']:.2f}x", (i, s["size"]["fp32_nbytes"] / 2 ** 20),
                         ha="center", va="bottom", fontsize=8)
    _panel(axes[1], models, LATENCY_BARS, lambda s, k: s["latency_ms"].get(k), "latency (ms)",
           log=True)
    _panel(axes[2], models, SQNR_BARS, lambda s, k: s["accuracy"]["output_sqnr_db"].get(k),
           "output SQNR vs FP32 (dB, higher is better)")
    if roofs:
        _roof_panel(axes[3], models, roofs[0])
    fig.suptitle(f"FP32 vs INT8 on {report['meta']['cpu']}, {report['meta']['threads']} "
                 f"thread(s)")
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=100)
    plt.close(fig)
    return out.getvalue()


ROOF_BARS = (("mlxa FP32", "mlxa fp32"), ("mlxa INT8", "mlxa int8"), ("ORT FP32", "ort fp32"),
             ("ORT INT8", "ort int8"))


def _roof_panel(ax: Any, models: list[Mapping[str, Any]], roofs: Mapping[str, Any]) -> None:
    """Achieved conv/matmul ops/s per side, the two roofs (one machine) as lines across."""
    def rate(s: Mapping[str, Any], key: str) -> float | None:
        found = [a["ops_per_s"] / 1e9 for a in (s.get("roofs") or {}).get("achieved", ())
                 if f"{a['runtime']} {a['precision']}" == key]
        return found[0] if found else None

    _panel(ax, models, ROOF_BARS, rate, "conv/matmul G(FL)OP/s against the roofs", log=True)
    ax.axhline(roofs["fp32_peak_ops_per_s"] / 1e9, color="C0", linestyle="--", lw=1)
    ax.annotate("FP32 roof", (-0.4, roofs["fp32_peak_ops_per_s"] / 1e9), fontsize=7,
                va="bottom")
    if roofs["int8_peak_ops_per_s"]:
        ax.axhline(roofs["int8_peak_ops_per_s"] / 1e9, color="C3", linestyle="--", lw=1)
        ax.annotate("INT8 roof", (-0.4, roofs["int8_peak_ops_per_s"] / 1e9), fontsize=7,
                    va="bottom")


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
