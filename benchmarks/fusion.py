"""Fusion benchmark: the fusion study's chains (bias + ReLU, Swish, tanh-GELU) at an in-cache and
a DRAM size, every backend, in one run. Prints each backend's GB/s on the chain's minimum
traffic with its fraction of a ufunc copy at that size, the kernels it ran, the eager/JIT time
ratios, and the issue's check at the largest size: mlxa's fused kernel at >= 70% of copy for
low and medium complexity, and ahead of XLA, Inductor and ONNX Runtime. Asserts nothing.

    python benchmarks/fusion.py [--sizes 4M,64M] [--budget 2] [--backends numpy,mlxa,xla]
                                [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mlxa.cli.fusion_cmd import parse_sizes
from mlxa.machine.cpu import cpu_count, cpu_name, load_average
from mlxa.studies.fusion import CHAINS, PAIRS, StudyConfig, run_study
from mlxa.studies.fusion_backends import BACKENDS
from mlxa.units import format_nbytes

TARGET = 0.70


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="4M,64M")
    p.add_argument("--budget", type=float, default=2.0)
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    config = StudyConfig(sizes=parse_sizes(args.sizes), backends=tuple(args.backends.split(",")),
                         threads=args.threads, size_budget_s=args.budget)
    print(f"{cpu_name()}, {cpu_count()} CPUs, load average {load_average():.1f}; "
          f"{args.threads} thread(s) per backend; median of the trials")
    runs, skipped = run_study(CHAINS, config)
    for chain in runs:
        print(f"\n{chain.name} ({chain.label}): {chain.expr}")
        for s in chain.sizes:
            cells = "  ".join(f"{c.backend} {s.bytes_per_s(c) / 1e9:.1f} ({s.copy_fraction(c):.0%},"
                              f" {c.kernels if c.kernels is not None else '?'}k)"
                              for c in s.cells)
            print(f"  {format_nbytes(s.x_nbytes):>7}: copy {s.copy_bytes_per_s / 1e9:.1f} GB/s "
                  f"(into a per-call result {s.copy_alloc_bytes_per_s / 1e9:.1f}); {cells}")
            ratios = [(e, j, s.ratio(e, j)) for e, j in PAIRS]
            print("           eager/JIT: " + "  ".join(f"{e}/{j} {r:.2f}x" for e, j, r in ratios
                                                        if r is not None))
        last = chain.sizes[-1]
        mlxa = last.cell("mlxa")
        if mlxa is not None and chain.name in ("low", "medium"):
            frac = last.copy_fraction(mlxa)
            others = [c for c in last.cells if c.kind == "jit" and c.backend != "mlxa"]
            ahead = [c.backend for c in others if mlxa.time.median_s <= c.time.median_s]
            behind = [c.backend for c in others if c.backend not in ahead]
            print(f"  check at {format_nbytes(last.x_nbytes)}: mlxa at {frac:.0%} of copy "
                  f"({'meets' if frac >= TARGET else 'misses'} {TARGET:.0%}); ahead of "
                  f"{', '.join(ahead) or 'none'}; behind {', '.join(behind) or 'none'}")
    for s in skipped:
        print(f"skipped {s.backend} ({s.chain}): {s.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
