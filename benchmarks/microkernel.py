"""Microkernel benchmark: the 1x1 convs of MobileNetV2 and ResNet-50 (batch 1, bias, ReLU6)
through mlxa's own matrix-product microkernel (kernels/microkernel.py, as kernels/conv_gemm.py
binds it: weight packed once, bias and clamp in the store) and through numpy's BLAS product
followed by the bias add and the clip (what the op table runs), taking turns in the same run.
Prints, per shape, both medians, their GFLOP/s, the speedup, and the max abs error against
float64; then each blocking's (MR x NV vectors of VL floats) total over the shapes, this CPU's
choice first. Asserts nothing. Pin it to one core for stable figures:

    OPENBLAS_NUM_THREADS=1 taskset -c 1 python benchmarks/microkernel.py [--reps 100]
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mlxa.profile.latency import median_seconds

# (out channels, in channels, map side): MobileNetV2's expansions and projections at 224x224,
# ResNet-50's bottleneck 1x1s
SHAPES = [(96, 16, 112), (144, 24, 56), (24, 144, 56), (192, 32, 28), (576, 96, 14),
          (96, 576, 14), (960, 160, 7), (160, 960, 7), (1280, 320, 7), (256, 64, 56),
          (64, 256, 56), (512, 128, 28), (1024, 256, 14), (2048, 512, 7)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=100)
    args = p.parse_args()
    from mlxa.kernels.microkernel import blocking, compiled, pack

    chosen = blocking()
    others = [b for b in ((8, 3, 8), (4, 3, 8), (6, 2, 16), (4, 4, 16)) if b != chosen]
    rng = np.random.default_rng(0)
    print(f"blocking {chosen[0]}x{chosen[1]} vectors of {chosen[2]} floats (this CPU's)")
    print(f"{'O x C x HW':<18}{'mk us':>9}{'GFLOP/s':>9}{'BLAS+epi us':>13}{'GFLOP/s':>9}"
          f"{'speedup':>9}{'max err':>10}")
    totals = {b: 0.0 for b in [chosen, *others]}
    total_blas = 0.0
    for o, c, side in SHAPES:
        hw = side * side
        w = rng.standard_normal((o, c)).astype(np.float32) / np.sqrt(c)
        x = rng.standard_normal((c, hw)).astype(np.float32)
        b = rng.standard_normal(o).astype(np.float32)
        out, ref_out = np.empty((o, hw), np.float32), np.empty((o, hw), np.float32)
        calls, packed = [], []  # packed: the arrays the calls' pointers point into
        for mr, nv, vl in totals:
            wp, bp = pack(w, b, mr)
            packed.append((wp, bp))
            calls.append(partial(compiled(mr, nv, vl), wp.ctypes.data, x.ctypes.data,
                                 bp.ctypes.data, out.ctypes.data, 1, o, c, hw, hw, hw, 0, 0,
                                 0.0, 6.0))
        bias = b[:, None]

        times = median_seconds([*calls, partial(_blas, w, x, bias, ref_out)], args.reps)
        for blk, t in zip(totals, times):
            totals[blk] += t
        total_blas += times[-1]
        calls[0]()
        want = np.clip(w.astype(np.float64) @ x + bias, 0.0, 6.0)
        flops = 2 * o * c * hw
        t, tb = times[0], times[-1]
        print(f"{f'{o}x{c}x{hw}':<18}{t * 1e6:>9.1f}{flops / t / 1e9:>9.1f}{tb * 1e6:>13.1f}"
              f"{flops / tb / 1e9:>9.1f}{tb / t:>9.2f}{float(np.abs(out - want).max()):>10.2e}")
    by_blocking = ", ".join(f"{mr}x{nv}x{vl} {t * 1e3:.3f} ms ({total_blas / t:.2f}x)"
                            for (mr, nv, vl), t in totals.items())
    print(f"total: BLAS + epilogue {total_blas * 1e3:.3f} ms; microkernel by blocking: "
          f"{by_blocking}")
    return 0


def _blas(w: np.ndarray, x: np.ndarray, bias: np.ndarray, out: np.ndarray) -> None:
    np.matmul(w, x, out=out)
    np.add(out, bias, out=out)
    np.clip(out, 0.0, 6.0, out=out)


if __name__ == "__main__":
    raise SystemExit(main())
