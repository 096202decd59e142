"""Ablation: the compiled executor's speedup over eager attributed to each technique. Every zoo
model at each batch size: eager, the full configuration (planning and in-place, fusion,
prepacked weights, conv epilogues, Numba kernels), each technique switched off in turn, the
default compiled executor (no custom kernels) and ONNX Runtime, all timed in turns within this
one run (medians of interleaved rounds). Prints the ratios; asserts nothing.

    python benchmarks/ablation.py [--models mlp,transformer] [--batches 1,32] [--threads 1]
                                  [--repeat 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mlxa.machine.blas import blas_info, choose_blas_core

choose_blas_core(sys.argv)

import numpy as np

from mlxa.models.zoo import ZOO
from mlxa.studies.ablation import render_rows, run_ablation


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(m for m in ZOO if m != "digits_cnn"))
    p.add_argument("--batches", default="1,32")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--blas-core", help="OpenBLAS kernel family (applied before numpy loads)")
    args = p.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads, user_api="blas")
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    print(f"BLAS: {blas_info()}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
          f"CPUs; threads {args.threads}")
    rows = []
    for name in args.models.split(","):
        for batch in map(int, args.batches.split(",")):
            rows.append(run_ablation(name, batch, args.threads, args.repeat, args.rounds))
            print(f"  {name} batch {batch}: done", file=sys.stderr)
    print(render_rows(rows))
    ratios = [r.config_ms["full"] / r.ort_ms for r in rows if r.ort_ms]
    default = [r.config_ms["no custom kernels"] / r.ort_ms for r in rows if r.ort_ms]
    if ratios:
        print(f"full/ORT geomean {float(np.exp(np.mean(np.log(ratios)))):.2f} (target <= 1.0), "
              f"worst {max(ratios):.2f} (target <= 1.2); without custom kernels: geomean "
              f"{float(np.exp(np.mean(np.log(default)))):.2f}, worst {max(default):.2f}")
    for r in rows:
        if r.batch == max(x.batch for x in rows if x.model == r.model):
            print(f"{r.model} kernels: " + "; ".join(r.kernels[:6])
                  + (f"; ... ({len(r.kernels)} in all)" if len(r.kernels) > 6 else ""))


if __name__ == "__main__":
    main()
