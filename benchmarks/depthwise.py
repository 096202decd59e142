"""Depthwise conv benchmark: MobileNetV2's depthwise 3x3 convs (batch 1, pads 1, ReLU6) through
the Numba kernel `depthwise_act` (kernels/jit.py bind_depthwise), the LLVM IR vector loops
`depthwise_vector` (kernels/depthwise_ir.py, where llvmlite is installed), taking turns in the
same run, and the op table's conv + clip, timed apart (between two kernel calls it would evict
their input). Prints, per shape, the Numba kernel's median time
per call, its GFLOP/s and GB/s (input + output bytes), the vector loops' median and their
speedup over Numba, the op table's median and the better kernel's speedup over it, the
roofline's time on this machine's cached ceilings (`mlxa machine`: FP32 peak, copy bandwidth at
the working set), the better kernel's multiple of it, and the larger max abs error of the two
kernels against a float64 numpy reference. Asserts nothing. Pin it to one core for stable
figures:

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
    import importlib.util

    vector = None
    if importlib.util.find_spec("llvmlite") is not None:
        from mlxa.kernels.depthwise_ir import product as vector
    print(f"{'shape (out)':<22}{'s':>2}{'numba us':>10}{'GFLOP/s':>9}{'GB/s':>7}{'vector us':>11}"
          f"{'vs numba':>10}{'table us':>10}{'speedup':>9}{'roof us':>9}{'x roof':>8}"
          f"{'max err':>10}")
    total = total_vector = total_table = 0.0
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

        vec_out = np.empty_like(out)
        # the op table's conv apart: between two kernel calls it would evict their input
        t_table, = median_seconds([table], max(args.reps // 4, 5))
        steps = [step] + ([vector([x, w, b], vec_out, attrs)] if vector else [])
        t, *t_vec = median_seconds(steps, args.reps)
        t_vector = t_vec[0] if t_vec else float("nan")
        best = min(t, t_vector) if t_vec else t
        total += t
        total_vector += best
        total_table += t_table
        want = conv_reference(x, w, b, (s, s), (1, 1, 1, 1), 0.0, 6.0)
        err = max(float(np.abs(o_ - want).max()) for o_ in ([out, vec_out] if t_vec else [out]))
        flops = 2 * 9 * c * o * o
        nbytes = 4 * (x.size + out.size)
        roof = roof_time_s(flops, nbytes, ceilings.peak_flops_per_s,
                           ceilings.bandwidth_at(nbytes))
        print(f"{f'1x{c}x{o}x{o}':<22}{s:>2}{t * 1e6:>10.1f}{flops / t / 1e9:>9.1f}"
              f"{nbytes / t / 1e9:>7.1f}{t_vector * 1e6:>11.1f}{t / t_vector:>10.2f}"
              f"{t_table * 1e6:>10.1f}{t_table / best:>9.2f}{roof * 1e6:>9.1f}"
              f"{best / roof:>8.2f}{err:>10.2e}")
    print(f"total: numba {total * 1e3:.3f} ms, the better kernel per shape "
          f"{total_vector * 1e3:.3f} ms, op table {total_table * 1e3:.3f} ms "
          f"({total_table / total_vector:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
