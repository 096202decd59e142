"""`mlxa memory`: activation memory of zoo models, ours beside XLA's and onnx-tool's, one row per
model, each column saying what it counts (compare/memory_table.py)."""

from __future__ import annotations

import argparse
import json
from typing import Any

SCHEMA = "mlxa.memory/1"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("memory", help="activation memory: eager, our planners and bound, XLA, "
                                      "onnx-tool, side by side")
    p.add_argument("--model", default="all", help="a zoo model, or all (default)")
    p.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and inputs")
    p.add_argument("--json", action="store_true", help="print the table as JSON data")
    p.add_argument("--no-xla", action="store_true", help="leave out XLA (compiling takes a while)")
    p.add_argument("--no-onnx-tool", action="store_true", help="leave out onnx-tool")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mlxa.cli.model_sources import check_positive
    from mlxa.compare.memory_table import render_table
    from mlxa.models.zoo import ZOO, get_model

    check_positive("--batch", args.batch)
    names = list(ZOO) if args.model == "all" else [get_model(args.model).name]
    table = memory_table(names, args.batch, args.seed, xla=not args.no_xla,
                         onnx_tool=not args.no_onnx_tool)
    print(json.dumps(table, indent=2) if args.json else render_table(table["rows"], args.batch),
          end="\n" if args.json else "")
    return 0


def memory_table(names: list[str], batch: int, seed: int = 0, xla: bool = True,
                 onnx_tool: bool = True) -> dict[str, Any]:
    from mlxa.cli.model_sources import check_run_fits
    from mlxa.compare.memory_table import COLUMNS, memory_row, random_inputs
    from mlxa.models.zoo import build

    for name in names:  # every model checked before any is run (building one is cheap)
        graph = build(name, batch, seed)
        check_run_fits(f"--model {name} --batch {batch}", graph)
    rows = []
    for name in names:
        graph = build(name, batch, seed)
        rows.append(memory_row(name, graph, random_inputs(graph, seed), xla, onnx_tool))
    return {"schema": SCHEMA, "batch": batch, "seed": seed,
            "columns": [{"key": c.key, "header": c.header, "counts": c.counts}
                        for c in COLUMNS],
            "rows": rows}
