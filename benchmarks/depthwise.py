"""Depthwise conv benchmark: MobileNetV2's depthwise 3x3 convs (batch 1, pads 1, ReLU6) through
the Numba kernel `depthwise_act` (kernels/jit.py bind_depthwise) and through the op table's
conv + clip, taking turns in the same run. Prints, per shape, the kernel's median time per
call, its GFLOP/s and GB/s (input + output bytes), the op table's median and the speedup, the
roofline's time on this machine's cached ceilings (`mlxa machine`: FP32 peak, copy bandwidth at
the working set) and the max abs error against a float64 numpy reference. Asserts nothing. Pin
it to one core for stable figures:

    OPENBLAS_NUM_THREADS=1 taskset -c 1 python benchmarks/depthwise.py [--reps 200]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mlxa.kernels.jit import bind_depthwise
from mlxa.kernels.reference import conv_reference
from mlxa.profile.latency import median_seconds

# (channels, input height/width, stride): MobileNetV2's depthwise convs at 224x224
SHAPES = [(32, 112, 1), (96, 112, 2), (144, 56, 1), (144, 56, 2), (192, 28, 1), (192, 28, 2),
          (384, 14, 1), (576, 14, 1), (576, 14, 2), (960, 7, 1)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=200)
    args = p.parse_args()
    from mlxa.ir.graph import TensorType
    from mlxa.machine.cache import load_ceilings
    from mlxa.machine.ceilings import roof_time_s
    from mlxa.ops import conv, get_op

    ceilings, note = load_ceilings()
    print(f"ceilings: {note}; FP32 peak {ceilings.peak_flops_per_s / 1e9:.0f} GFLOP/s")
    rng = np.random.default_rng(0)
    print(f"{'shape (out)':<22}{'s':>2}{'median us':>11}{'GFLOP/s':>9}{'GB/s':>7}"
          f"{'table us':>10}{'speedup':>9}{'roof us':>9}{'x roof':>8}{'max err':>10}")
    total = total_table = 0.0
    for c, h, s in SHAPES:
        x = (rng.standard_normal((1, c, h, h)) * 3).astype(np.float32)
        w = rng.standard_normal((c, 1, 3, 3)).astype(np.float32)
        b = rng.standard_normal(c).astype(np.float32)
        o = (h + 2 - 3) // s + 1
        out = np.empty((1, c, o, o), np.float32)
        attrs = {"strides": (s, s), "pads": (1, 1, 1, 1), "group": c,
                 "epilogue": ("clip", {"min": 0.0, "max": 6.0})}
        ws = np.empty(4 * c * (h + 2) * (h + 2) + 64, np.uint8)
        step = bind_depthwise([x, w, b], [out], attrs, ws)
        plain = {k: v for k, v in attrs.items() if k != "epilogue"}
        table_out = np.empty_like(out)
        types = [TensorType(a.shape, a.dtype) for a in (x, w, b)]
        table_ws = np.empty(get_op("conv").workspace_nbytes(
            types, [TensorType(out.shape, out.dtype)], plain) + 64, np.uint8)
        conv_step = conv.bind([x, w, b], table_out, plain, table_ws)
        clip_step = get_op("clip").bound([table_out], [table_out], {"min": 0.0, "max": 6.0}, None)

        def table(conv_step=conv_step, clip_step=clip_step) -> None:  # type: ignore[no-untyped-def]
            conv_step()
            clip_step()

        t, t_table = median_seconds([step, table], args.reps)
        total += t
        total_table += t_table
        err = float(np.abs(out - conv_reference(x, w, b, (s, s), (1, 1, 1, 1), 0.0, 6.0)).max())
        flops = 2 * 9 * c * o * o
        nbytes = 4 * (x.size + out.size)
        roof = roof_time_s(flops, nbytes, ceilings.peak_flops_per_s,
                           ceilings.bandwidth_at(nbytes))
        print(f"{f'1x{c}x{o}x{o}':<22}{s:>2}{t * 1e6:>11.1f}{flops / t / 1e9:>9.1f}"
              f"{nbytes / t / 1e9:>7.1f}{t_table * 1e6:>10.1f}{t_table / t:>9.2f}"
              f"{roof * 1e6:>9.1f}{t / roof:>8.2f}{err:>10.2e}")
    print(f"total {total * 1e3:.3f} ms (op table {total_table * 1e3:.3f} ms: "
          f"{total_table / total:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
