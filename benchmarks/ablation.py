"""Ablation: the compiled executor's speedup over eager attributed to each technique. Every zoo
model at each batch size: eager, the full configuration (planning and in-place, fusion,
prepacked weights, conv epilogues, Numba kernels), each technique switched off in turn, the
default compiled executor (no custom kernels) and ONNX Runtime, all timed in turns within this
one run (medians of interleaved rounds). First the seed MLP (--seed-mlp BATCH): with and without
custom kernels, its matrix products alone (the non-matmul share) and ONNX Runtime. Prints the
ratios; asserts nothing.

    python benchmarks/ablation.py [--models mlp,transformer] [--batches 1,32] [--threads 1]
                                  [--repeat 10] [--rounds 3] [--seed-mlp 32]
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


def seed_mlp(batch: int, threads: int, repeat: int, rounds: int) -> str:
    """The seed MLP: compiled with and without custom kernels, the full configuration's matrix
    products alone (their bias epilogue included), and ONNX Runtime, in turns."""
    from mlxa.compare.ort import ort_runner
    from mlxa.models.mlp import MLPConfig, mlp
    from mlxa.runtime.compiled import compile_model
    from mlxa.studies.ablation import FULL
    from mlxa.studies.interleave import interleave

    graph = mlp(MLPConfig(batch=batch))
    x = np.random.default_rng(0).standard_normal((batch, 1024)).astype(np.float32)
    default, full = compile_model(graph), compile_model(graph, FULL)
    products = [c.run for c in full.calls if c.node.op in ("matmul", "gemm")]
    runners = {"default": lambda: default(x), "full": lambda: full(x),
               "products": lambda: [run() for run in products]}
    ort = ort_runner(graph, (x,), threads)
    if ort is not None:
        runners["ort"] = ort
    # call by call in rotating order; the best of each is the least disturbed by other load
    times = interleave(runners, budget_s=max(2.0, repeat * rounds * 0.05), min_rounds=repeat)
    ms = {k: t.best_s * 1e3 for k, t in times.items()}
    med = {k: t.median_s * 1e3 for k, t in times.items()}
    vs_ort = (f"full/ORT {ms['full'] / ms['ort']:.2f} (medians {med['full'] / med['ort']:.2f}; "
              f"target <= 1.2), default/ORT {ms['default'] / ms['ort']:.2f}, ORT "
              f"{ms['ort']:.3f} ms; " if "ort" in ms else "")
    variants = [getattr(c.run, "variant", "") for c in full.calls if c.node.op == "matmul"]
    return (f"seed MLP batch {batch} (best of {times['full'].rounds} turns): default "
            f"{ms['default']:.3f} ms, full {ms['full']:.3f} ms, its matrix products alone "
            f"{ms['products']:.3f} ms; {vs_ort}non-matmul share of full "
            f"{1 - ms['products'] / ms['full']:.1%} (medians "
            f"{1 - med['products'] / med['full']:.1%}; target < 10%); products bound as "
            f"{', '.join(variants)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(ZOO))
    p.add_argument("--batches", default="1,32")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed-mlp", type=int, default=32, metavar="BATCH",
                   help="also the seed MLP at this batch (0: skip)")
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
    if args.seed_mlp:
        print(seed_mlp(args.seed_mlp, args.threads, max(args.repeat, 20), args.rounds))
    rows = []
    for name in [m for m in args.models.split(",") if m]:
        for batch in map(int, args.batches.split(",")):
            rows.append(run_ablation(name, batch, args.threads, args.repeat, args.rounds))
            print(f"  {name} batch {batch}: done", file=sys.stderr)
    if not rows:
        return
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
