"""Sparsity benchmark: the sparsity study on one model in one run. Prints the break-even
densities of CSR and the block-sparse kernel against dense BLAS (per product shape, and their
range), ONNX Runtime's, XLA's and mlxa's pruned/dense time ratios, channel pruning's speedup
eager and compiled against the issue's 1.5x target, and digits_cnn's top-1 at 50% and 90%.
Asserts nothing.

    python benchmarks/sparsity.py [--model resnet18] [--image 224] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mlxa.machine.cpu import cpu_count, cpu_name, load_average
from mlxa.studies.sparsity import Config, run_study

TARGET = 1.5


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet18")
    p.add_argument("--image", type=int, default=224)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--probe-budget", type=float, default=0.15)
    args = p.parse_args()
    print(f"{cpu_name()}, {cpu_count()} CPUs, load average {load_average():.1f}; "
          f"{args.threads} thread(s); best of interleaved rounds")
    r = run_study(Config(args.model, args.image, threads=args.threads,
                         probe_budget_s=args.probe_budget))
    for w in r.warnings:
        print(f"warning: {w}")
    print("break-even density (sparse beats dense BLAS below it), O x K x N: CSR, block")
    for b in r.break_even:
        csr = f"{100 * b.csr_density:5.1f}%" if b.csr_density is not None else "    -"
        block = f"{100 * b.block_density:5.1f}%" if b.block_density is not None else "    -"
        print(f"  {'x'.join(map(str, b.shape)):>16}  {csr}  {block}")
    for name in ("csr", "block"):
        found = sorted(d for b in r.break_even if (d := getattr(b, f"{name}_density")) is not None)
        if found:
            print(f"  {name}: {100 * found[0]:.1f}% to {100 * found[-1]:.1f}%, median "
                  f"{100 * found[len(found) // 2]:.1f}%")
    for z in r.runtimes:
        print(f"{z.runtime}: {100 * r.runtime_level:.0f}% zeros / dense = {z.ratio:.2f} "
              f"(dense again / dense = {z.noise:.2f})")
    c = r.channel
    for kind, speedup in (("eager", c.eager_speedup), ("compiled", c.compiled_speedup)):
        verdict = "meets" if speedup >= TARGET else "misses"
        print(f"channel pruning {100 * c.level:.0f}% ({c.flops_before / c.flops_after:.2f}x fewer "
              f"FLOPs), {kind}: {speedup:.2f}x, {verdict} the {TARGET}x target")
    for p_ in r.accuracy:
        if p_.level in (0.5, 0.9):
            print(f"digits_cnn {p_.pattern} {100 * p_.level:.0f}%: top-1 {100 * p_.top1:.1f}% "
                  f"(dense {100 * r.dense_top1:.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
