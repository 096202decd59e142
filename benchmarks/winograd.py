"""Winograd benchmark: the 3x3 stride-1 convs of small_cnn (batch 1 and 32) and ResNet (batch 1;
pads 1, bias, ReLU) by each way of conv_gemm (kernels/conv_gemm.py): the microkernel along the
pixels, turned along the channels, and F(2x2, 3x3) with compiled transforms
(kernels/winograd_ir.py); the op table's numpy Winograd; and ONNX Runtime's conv (its profiler's
kernel time, NCHWc: the blocked conv its layout transformer picks, plus the reorders it adds),
where onnxruntime is installed. The mlxa calls take turns in the same run. Prints, per shape,
each median (ms) with its p10-p90 spread, winograd_ir's speedup over the best other mlxa way
and its time over ONNX Runtime's, and its max error against float64 relative to the output's
largest value. Asserts nothing. Pin it to one core for stable figures:

    OPENBLAS_NUM_THREADS=1 taskset -c 1 python benchmarks/winograd.py [--reps 30]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mlxa.kernels.conv_gemm import product
from mlxa.kernels.epilogue import table_conv
from mlxa.kernels.reference import conv_reference
from mlxa.profile.latency import measure_interleaved
from mlxa.studies.layout_backends import ort_conv_times

# (batch, in channels, out channels, map side): small_cnn's two 3x3 convs, ResNet's stages
SHAPES = [(1, 32, 32, 28), (1, 32, 64, 14), (32, 32, 32, 28), (32, 32, 64, 14),
          (1, 64, 64, 56), (1, 128, 128, 28), (1, 256, 256, 14), (1, 512, 512, 7)]
WAYS = ("along_pixels", "along_channels", "winograd")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=30)
    p.add_argument("--shapes", type=int, default=len(SHAPES), help="the first N shapes")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    attrs = {"pads": (1, 1, 1, 1), "strides": (1, 1), "epilogue": ("relu", {})}
    plain = {"pads": (1, 1, 1, 1), "strides": (1, 1)}
    print(f"{'N x C -> O @ HxW':<20}" + "".join(f"{k:>22}" for k in (*WAYS, "numpy"))
          + f"{'ORT NCHWc':>11}{'wino/best':>10}{'wino/ORT':>9}{'rel err':>9}")
    ratios_ort: list[float] = []
    for n, c, o, side in SHAPES[:args.shapes]:
        x = rng.standard_normal((n, c, side, side)).astype(np.float32)
        w = (rng.standard_normal((o, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
        b = rng.standard_normal(o).astype(np.float32)
        outs = {k: np.empty((n, o, side, side), np.float32) for k in (*WAYS, "numpy")}
        runners = {way: product([x, w, b], outs[way], attrs, None, way=way) for way in WAYS}
        runners["numpy"] = table_conv([x, w, b], [outs["numpy"]], attrs, None)
        flops = 2 * 9 * n * c * o * side * side
        reps = max(5, min(args.reps * 10, int(args.reps * 2e8 / flops)))
        stats = measure_interleaved(runners, warmup=2, repeat=reps)
        want = conv_reference(x, w, b, (1, 1), (1, 1, 1, 1), 0.0)
        err = float(np.max(np.abs(outs["winograd"] - want)) / np.max(np.abs(want)))
        cells = "".join(f"{s.median_ms:>9.3f} ({s.p10_ms:.2f}-{s.p90_ms:.2f})"
                        for s in stats.values())
        best = min(stats[k].median_ms for k in ("along_pixels", "along_channels", "numpy"))
        wino = stats["winograd"].median_ms
        ort = ort_conv_times(x, w, b, plain, threads=1, runs=max(5, reps // 2))
        ort_ms = None if ort is None else ort["nchwc"] + ort["nchwc_reorder"]
        ort_cell = f"{ort_ms:>11.3f}" if ort_ms else f"{'-':>11}"
        vs_ort = f"{wino / ort_ms:>9.2f}" if ort_ms else f"{'-':>9}"
        if ort_ms:
            ratios_ort.append(wino / ort_ms)  # the relu runs apart in ORT's graph: not counted
        print(f"{f'{n} x {c} -> {o} @ {side}':<20}{cells}{ort_cell}{best / wino:>10.2f}"
              f"{vs_ort}{err:>9.1e}", flush=True)
    if ratios_ort:
        print(f"winograd_ir / ONNX Runtime NCHWc: geomean "
              f"{float(np.exp(np.mean(np.log(ratios_ort)))):.2f} over {len(ratios_ort)} shapes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
