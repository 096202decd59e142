"""Seed MLP benchmark: eager vs compiled vs the compiled program's matrix products alone vs ONNX
Runtime, at several batch sizes, all measured in this one run. Prints a table of figures and the
ratios the targets speak of; asserts nothing (machines are noisy: read the ratios).

    python benchmarks/seed_mlp.py [--batches 1,32,256] [--repeat 100] [--rounds 5]
                                  [--blas-core SkylakeX]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mlxa.machine.blas import blas_info, choose_blas_core

choose_blas_core(sys.argv)

import numpy as np

from mlxa.compare.ort import ort_runner
from mlxa.models.mlp import MLPConfig, mlp
from mlxa.profile.latency import interleaved_medians
from mlxa.profile.memory import measure_memory
from mlxa.runtime.compiled import compile_model
from mlxa.runtime.eager import EagerModel


def bench(batch: int, repeat: int, rounds: int) -> dict[str, float]:
    graph = mlp(MLPConfig(batch=batch))
    x = np.random.default_rng(0).standard_normal((batch, 1024)).astype(np.float32)
    eager, compiled = EagerModel(graph), compile_model(graph)
    matmuls = [c.run for c in compiled.calls if c.node.op in ("matmul", "gemm")]
    runners = {"eager": lambda: eager(x), "optimized": lambda: compiled(x),
               "matmul_only": lambda: [run() for run in matmuls]}
    ort = ort_runner(graph, (x,))
    if ort is not None:
        runners["ort"] = ort
    row = interleaved_medians(runners, repeat, rounds)
    compiled(x)
    row["allocs_eager"] = measure_memory(lambda: eager(x)).allocations
    row["allocs_optimized"] = measure_memory(lambda: compiled(x)).allocations
    row["arena_nbytes"] = compiled.program.plan.arena_nbytes
    row["bound_nbytes"] = compiled.program.lower_bound_nbytes
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", default="1,32,256")
    p.add_argument("--repeat", type=int, default=100)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--blas-core", help="OpenBLAS kernel family (applied before numpy loads)")
    args = p.parse_args()
    print(f"BLAS: {blas_info()}")
    head = (f"{'batch':>5} {'eager ms':>9} {'opt ms':>8} {'speedup':>7} {'mm ms':>8} "
            f"{'opt/mm':>6} {'ORT ms':>8} {'opt/ORT':>7} {'allocs e/o':>10} "
            f"{'arena B':>9} {'bound B':>9}")
    print(head)
    print("-" * len(head))
    for batch in map(int, args.batches.split(",")):
        r = bench(batch, args.repeat, args.rounds)
        ort = r.get("ort")
        ort_ms = f"{ort:.3f}" if ort else "n/a"
        ort_ratio = f"{r['optimized'] / ort:.2f}" if ort else "n/a"
        print(f"{batch:>5} {r['eager']:>9.3f} {r['optimized']:>8.3f} "
              f"{r['eager'] / r['optimized']:>6.2f}x {r['matmul_only']:>8.3f} "
              f"{r['optimized'] / r['matmul_only']:>6.3f} "
              f"{ort_ms:>8} {ort_ratio:>7} "
              f"{r['allocs_eager']:>4}/{r['allocs_optimized']:<5} "
              f"{r['arena_nbytes']:>9,} {r['bound_nbytes']:>9,}")
    print("speedup = eager/optimized; opt/mm = optimized / its matrix products alone "
          "(target <= 1.10); opt/ORT: target <= 1.5")


if __name__ == "__main__":
    main()
