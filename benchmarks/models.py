"""Zoo benchmark: every zoo model at batch 1, eager vs optimized (compiled) vs ONNX Runtime
(ORT_ENABLE_ALL) latency and the ratio optimized/ORT, peak activation memory eager vs optimized,
and the time to import ResNet-50 from an ONNX file and compile it (analysis and planning
included). All measured in this one run; prints a table, asserts nothing (read the ratios).

    python benchmarks/models.py [--models resnet50,small_cnn] [--repeat 20] [--rounds 3]
                                [--threads N]

--threads limits numpy's BLAS and ONNX Runtime's intra-op pool alike (default: their own
defaults). On a small or busy machine use --threads 1: a multi-threaded BLAS whose threads share
cores with other work can run a product 10-100x slower than one thread, whichever executor runs.

Memory compares what session.py compares: the eager peak traced within one inference against
the optimized footprint (arena + workspace + input/output buffers + anything traced).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mlxa.machine.blas import blas_info, choose_blas_core
from mlxa.machine.cpu import cpu_count

choose_blas_core(sys.argv)

import numpy as np

from mlxa.compare.ort import ort_runner
from mlxa.compiler import CompileOptions
from mlxa.models.zoo import ZOO, build
from mlxa.oracle import check
from mlxa.profile.latency import interleaved_medians
from mlxa.profile.memory import measure_memory
from mlxa.runtime.compiled import compile_model
from mlxa.runtime.eager import EagerModel
from mlxa.units import format_nbytes


def bench(name: str, repeat: int, rounds: int, threads: int | None) -> dict[str, float]:
    graph = build(name, batch=1)
    x = np.random.default_rng(0).standard_normal(graph.inputs[0].shape).astype(np.float32)
    eager, compiled = EagerModel(graph), compile_model(graph)
    unfolded = compile_model(graph, CompileOptions(fold_bn=False))
    runners = {"eager": lambda: eager(x), "optimized": lambda: compiled(x),
               "unfolded": lambda: unfolded(x)}
    ort = ort_runner(graph, (x,), threads)
    if ort is not None:
        runners["ort"] = ort
    row: dict[str, float] = interleaved_medians(runners, repeat, rounds)
    want = tuple(np.array(a) for a in eager(x))
    row["correct"] = check(graph, [x], want, compiled(x)).passed
    row["eager_peak_nbytes"] = measure_memory(lambda: eager(x)).peak_traced_nbytes
    row["optimized_nbytes"] = (compiled.program.footprint_nbytes
                               + measure_memory(lambda: compiled(x)).peak_traced_nbytes)
    return row


def onnx_import_seconds(name: str = "resnet50") -> dict[str, float] | None:
    """Export the zoo model to an ONNX file, then time load_onnx and CompiledModel on it."""
    try:
        import onnx

        from mlxa.frontends.onnx_export import to_onnx
        from mlxa.frontends.onnx_import import load_onnx
    except ImportError:
        return None
    graph = build(name, batch=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.onnx"
        model = to_onnx(graph)
        onnx.save(model, str(path))
        shapes = {model.graph.input[0].name: graph.inputs[0].shape}
        t0 = time.perf_counter()
        imported = load_onnx(path, shapes)
        t1 = time.perf_counter()
        compiled = compile_model(imported)
        t2 = time.perf_counter()
    x = np.random.default_rng(0).standard_normal(graph.inputs[0].shape).astype(np.float32)
    want = tuple(np.array(a) for a in EagerModel(graph)(x))
    same = check(graph, [x], want, compiled(x)).passed
    return {"load_s": t1 - t0, "compile_s": t2 - t1, "total_s": t2 - t0, "same": same}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(ZOO))
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, help="BLAS and ORT intra-op threads")
    p.add_argument("--blas-core", help="OpenBLAS kernel family (applied before numpy loads)")
    args = p.parse_args()
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads, user_api="blas")
    print(f"BLAS: {blas_info()}; load average {os.getloadavg()[0]:.1f} on "
          f"{cpu_count()} cores; threads {args.threads or 'default'}")
    head = (f"{'model':<13} {'eager ms':>9} {'opt ms':>8} {'speedup':>7} {'-fold ms':>8} "
            f"{'ORT ms':>8} {'opt/ORT':>7} {'-fold/ORT':>9} {'eager peak':>10} {'opt mem':>9} "
            f"{'correct':>7}")
    print(head)
    print("-" * len(head))
    for name in args.models.split(","):
        r = bench(name, args.repeat, args.rounds, args.threads)
        ort = r.get("ort")
        ort_ms = f"{ort:.2f}" if ort else "n/a"
        ort_ratio = f"{r['optimized'] / ort:.2f}" if ort else "n/a"
        fold_ratio = f"{r['unfolded'] / ort:.2f}" if ort else "n/a"
        print(f"{name:<13} {r['eager']:>9.2f} {r['optimized']:>8.2f} "
              f"{r['eager'] / r['optimized']:>6.2f}x {r['unfolded']:>8.2f} "
              f"{ort_ms:>8} {ort_ratio:>7} {fold_ratio:>9} "
              f"{format_nbytes(int(r['eager_peak_nbytes'])):>10} "
              f"{format_nbytes(int(r['optimized_nbytes'])):>9} "
              f"{'PASS' if r['correct'] else 'FAIL':>7}")
    print("speedup = eager/optimized (target >= 1); -fold: optimized without folding batch_norm "
          "into the convs (CompileOptions(fold_bn=False)); opt/ORT: target <= 2 on the conv nets; "
          "memory: eager traced peak vs optimized footprint")
    imported = onnx_import_seconds()
    if imported is None:
        print("ResNet-50 ONNX import: n/a (needs onnx and mlxa.frontends.onnx_export)")
    else:
        print(f"ResNet-50 from ONNX: load_onnx {imported['load_s']:.2f} s + CompiledModel "
              f"{imported['compile_s']:.2f} s = {imported['total_s']:.2f} s (target < 2 s); "
              f"output {'equals' if imported['same'] else 'DIFFERS from'} the zoo model's")


if __name__ == "__main__":
    main()
