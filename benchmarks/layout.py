"""Layout benchmark: the layout study on ResNet-50 and MobileNetV2 in one run. Prints, per
model, the prediction's agreement with the measurement against the issue's 80% target, each
runtime's summed conv time in nhwc and nchwc over nchw, the relayouts each layout inserts with
their share of the compiled model's node time, and the compiled model's time per layout over
nchw. Asserts nothing.

    python benchmarks/layout.py [--models resnet50,mobilenet_v2] [--image 224] [--budget 0.5]
                                [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mlxa.machine.cpu import cpu_count, cpu_name, load_average
from mlxa.studies.layout import Config, ModelLayouts, run_study

TARGET = 0.80
PAIRS = (("mlxa", "nhwc"), ("mlxa", "nchwc"), ("torch", "nhwc"), ("ort", "nchwc"))


def _ratios(m: ModelLayouts) -> list[str]:
    lines = []
    for runtime, layout in PAIRS:
        tables = [getattr(r, f"{runtime}_ms") for r in m.convs]
        tables = [t for t in tables if layout in t and "nchw" in t]
        if tables:
            ratio = sum(t[layout] for t in tables) / sum(t["nchw"] for t in tables)
            lines.append(f"  {runtime:5} {layout}/nchw, convs summed: {ratio:.2f}")
    base = next(t for t in m.transposes if t.layout == "nchw").model_ms
    for t in m.transposes:
        lines.append(f"  compiled model {t.layout:5}: {t.model_ms:8.2f} ms ({t.model_ms / base:.2f}"
                     f" of nchw); relayouts {t.relayouts}, {100 * t.share:.2f}% of node time")
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="resnet50,mobilenet_v2")
    p.add_argument("--image", type=int, default=224)
    p.add_argument("--budget", type=float, default=0.5)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    print(f"{cpu_name()}, {cpu_count()} CPUs, load average {load_average():.1f}; "
          f"{args.threads} thread(s); best of interleaved rounds")
    result = run_study(Config(tuple(args.models.split(",")), image=args.image,
                              threads=args.threads, conv_budget_s=args.budget))
    for w in result.warnings:
        print(f"warning: {w}")
    for m in result.models:
        verdict = "meets" if m.agreement >= TARGET else "misses"
        print(f"{m.model}: prediction agrees on {100 * m.agreement:.0f}% of {len(m.convs)} convs "
              f"(strictly fastest {100 * m.agreement_strict:.0f}%, on the {m.decisive} convs "
              f"with a clear winner {100 * m.agreement_decisive:.0f}%): {verdict} the "
              f"{100 * TARGET:.0f}% target")
        print("\n".join(_ratios(m)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
