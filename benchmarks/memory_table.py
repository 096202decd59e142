"""Activation memory of every zoo model: the eager peak we measure, each planner's arena, the
lower bound (before and after reordering), XLA's temp and onnx-tool's compressed memory, one row
per model, each column saying what it counts. The same table as `mlxa memory --model all`.

    python benchmarks/memory_table.py [--batch 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mlxa.cli.memory_cmd import memory_table
from mlxa.compare.memory_table import render_table
from mlxa.models.zoo import ZOO


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    table = memory_table(list(ZOO), args.batch)
    print(json.dumps(table, indent=2) if args.json else render_table(table["rows"], args.batch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
