"""`mlxa models`: the zoo, one row per model at batch 1 and default sizes: parameters, FLOPs,
activation bytes (every value the nodes compute, what eager allocates over one inference) and
the lower bound of a planned arena for those values (in-place buffers, the planners' alignment;
ops' scratch left out, so the two columns count the same values), which no plan of them beats."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the zoo's models with their size and cost")
    p.add_argument("--seed", type=int, default=0, help="seed of the deterministic weights")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mlxa.models.zoo import ZOO

    print(render([model_row(name, args.seed) for name in ZOO]), end="")
    return 0


def model_row(name: str, seed: int = 0) -> dict[str, Any]:
    """One model's summary at batch 1, as data (units in the keys)."""
    from mlxa.analysis.buffers import assign_buffers
    from mlxa.analysis.cost import graph_cost
    from mlxa.cli.model_sources import activation_nbytes
    from mlxa.models.zoo import get_model
    from mlxa.planners.contract import ALIGNMENT

    model = get_model(name)
    graph = model.build(batch=1, seed=seed)
    return {"name": name, "description": model.description, "sizes": model.sizes,
            "inputs": [list(v.shape) for v in graph.inputs], "nodes": len(graph.nodes),
            "params": int(sum(a.size for a in graph.params.values())),
            "flops": graph_cost(graph).flops,
            "activation_nbytes": activation_nbytes(graph),
            "arena_lower_bound_nbytes": assign_buffers(graph).lower_bound(ALIGNMENT)}


def render(rows: list[dict[str, Any]]) -> str:
    from mlxa.units import format_nbytes

    header = ("model", "input", "params", "FLOPs", "activations", "arena >=", "nodes")
    table = [header] + [(r["name"], "x".join(map(str, r["inputs"][0])), _si(r["params"]),
                         _si(r["flops"]), format_nbytes(r["activation_nbytes"]),
                         format_nbytes(r["arena_lower_bound_nbytes"]), str(r["nodes"]))
                        for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths))).rstrip() for row in table]
    lines.append("")
    lines += [f"{r['name']}: {r['description']}; sizes "
              + ", ".join(f"{k}={v}" for k, v in r["sizes"].items()) for r in rows]
    lines.append("At batch 1. activations: every value the nodes compute (eager allocates them "
                 "all over one inference); arena >=: the least memory any plan of them needs.")
    return "\n".join(lines) + "\n"


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(int(n))
