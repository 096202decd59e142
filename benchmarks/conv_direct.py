"""Direct conv benchmark: the stems of small_cnn, digits_cnn, MobileNetV2 and ResNet (batch 1,
bias, ReLU or ReLU6) through the Numba kernel `conv_direct` (kernels/conv_direct.py) against
the op table's conv (ops/conv.py: im2col + BLAS) followed by its activation, the two calls
interleaved. Prints per shape the median time per call of each, the speedup, the roof the issue
asks for (max of FLOPs at 100 GFLOP/s and input + weight + output bytes at 20 GB/s) and each
one's max abs error against a float64 numpy reference; "taken" says whether the kernel's
predicate takes the conv (the others, timed with --all, show where its MAX_CHANNELS and
MAX_TAPS thresholds come from). Asserts nothing. Pin it to one core:

    OPENBLAS_NUM_THREADS=1 taskset -c 1 python benchmarks/conv_direct.py [--reps 200] [--all]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mlxa.ir.graph import TensorType
from mlxa.kernels.conv_direct import bind_direct, direct_applies
from mlxa.kernels.reference import conv_reference
from mlxa.kernels.registry import Epilogue, Site
from mlxa.ops import conv, get_op
from mlxa.profile.latency import median_seconds

# name, x shape, w shape, stride, pads, epilogue
SHAPES = [
    ("small_cnn conv1", (1, 1, 28, 28), (32, 1, 3, 3), 1, 1, ("relu", {})),
    ("digits_cnn conv1", (1, 1, 8, 8), (16, 1, 3, 3), 1, 1, ("relu", {})),
    ("mobilenet_v2 stem", (1, 3, 224, 224), (32, 3, 3, 3), 2, 1,
     ("clip", {"min": 0.0, "max": 6.0})),
    ("resnet stem", (1, 3, 224, 224), (64, 3, 7, 7), 2, 3, ("relu", {})),  # not taken
    ("3ch 3x3 s1 56", (1, 3, 56, 56), (16, 3, 3, 3), 1, 1, ("relu", {})),
    ("1ch 5x5 s1 28", (1, 1, 28, 28), (8, 1, 5, 5), 1, 2, ("relu", {})),
    ("2ch 5x5 s1 28", (1, 2, 28, 28), (8, 2, 5, 5), 1, 2, ("relu", {})),
    ("3ch 5x5 s2 64", (1, 3, 64, 64), (16, 3, 5, 5), 2, 2, ("relu", {})),
    ("1ch 7x7 s2 64", (1, 1, 64, 64), (16, 1, 7, 7), 2, 3, ("relu", {})),
    ("4ch 3x3 s1 28", (1, 4, 28, 28), (16, 4, 3, 3), 1, 1, ("relu", {})),
    ("6ch 3x3 s1 28", (1, 6, 28, 28), (16, 6, 3, 3), 1, 1, ("relu", {})),
    ("3ch 3x3 s1 112", (1, 3, 112, 112), (32, 3, 3, 3), 1, 1, ("relu", {})),
]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=200)
    p.add_argument("--all", action="store_true", help="also time the convs it does not take")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'shape':<20}{'op table us':>12}{'direct us':>11}{'speedup':>9}{'roof us':>9}"
          f"{'x roof':>8}{'GFLOP/s':>9}{'err old':>10}{'err new':>10}{'taken':>7}")
    for name, xs, ws, s, pad, epi in SHAPES:
        x = rng.standard_normal(xs).astype(np.float32)
        w = (rng.standard_normal(ws) / np.sqrt(ws[1] * ws[2] * ws[3])).astype(np.float32)
        b = rng.standard_normal(ws[0]).astype(np.float32) * 0.1
        oh, ow = (xs[2] + 2 * pad - ws[2]) // s + 1, (xs[3] + 2 * pad - ws[3]) // s + 1
        attrs = {"strides": (s, s), "pads": (pad,) * 4}
        old_out = np.empty((xs[0], ws[0], oh, ow), np.float32)
        new_out = np.empty_like(old_out)
        conv_step = conv.bind([x, w, b], old_out, attrs, None)
        act = get_op(epi[0]).bound([old_out], [old_out], epi[1], None)

        def old(conv_step=conv_step, act=act) -> None:  # type: ignore[no-untyped-def]
            conv_step()
            act()

        f32 = np.dtype(np.float32)
        site = Site("conv", (TensorType(xs, f32), TensorType(ws, f32), TensorType(ws[:1], f32)),
                    (), attrs, (False, True, True), Epilogue(epi[0], epi[1], (), 1))
        taken = direct_applies(site)
        if not (taken or args.all):
            (t_old,) = median_seconds([old], args.reps)
            print(f"{name:<20}{t_old * 1e6:>12.1f}{'-':>11}{'':>62}{'no':>7}")
            continue
        new = bind_direct([x, w, b], [new_out], {**attrs, "epilogue": epi}, None)
        t_old, t_new = median_seconds([old, new], args.reps)
        lo, hi = (0.0, 6.0) if epi[0] == "clip" else (0.0, np.inf)
        want = conv_reference(x, w, b, (s, s), (pad,) * 4, lo, hi)
        flops = 2 * old_out.size * ws[1] * ws[2] * ws[3] + old_out.size
        roof = max(flops / 100e9, 4 * (x.size + w.size + old_out.size) / 20e9)
        print(f"{name:<20}{t_old * 1e6:>12.1f}{t_new * 1e6:>11.1f}{t_old / t_new:>9.2f}"
              f"{roof * 1e6:>9.1f}{t_new / roof:>8.2f}{flops / t_new / 1e9:>9.1f}"
              f"{np.abs(old_out - want).max():>10.1e}{np.abs(new_out - want).max():>10.1e}"
              f"{'yes' if taken else 'no':>7}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
