"""`mlxa show`: print a model's graph with lifetimes and fusion groups, then the compiled graph
with its memory plan."""

from __future__ import annotations

import argparse

from mlxa.cli.model_args import add_model_args, load_model
from mlxa.errors import UserInputError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show", help="print a model's graph and its memory plan")
    add_model_args(p)
    p.add_argument("--planner", default="best", help="offset planner (default best)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mlxa.planners import PLANNERS

    if args.planner not in PLANNERS:
        raise UserInputError(f"unknown planner {args.planner!r}; known: {', '.join(PLANNERS)}")
    model = load_model(args)
    print(show_text(model.graph, args.planner))
    return 0


def show_text(graph, planner: str = "best") -> str:  # type: ignore[no-untyped-def]
    from mlxa.analysis.lifetimes import lifetimes
    from mlxa.ir.printer import format_graph
    from mlxa.passes.fuse_elementwise import fusion_groups
    from mlxa.runtime.compiled import CompiledModel, CompileOptions
    from mlxa.units import format_nbytes

    groups = {i: k for k, g in enumerate(fusion_groups(graph)) for i in g}
    compiled = CompiledModel(graph, CompileOptions(planner=planner))
    plan = compiled.plan
    return "\n".join([
        "# as written", format_graph(graph, lifetimes(graph), groups=groups), "",
        f"# compiled: {sum(n.op == 'fused' for n in compiled.graph.nodes)} fusion group(s), arena "
        f"{format_nbytes(plan.arena_nbytes)} ({plan.strategy}), lower bound "
        f"{format_nbytes(compiled.lower_bound_nbytes)}",
        format_graph(compiled.graph, lifetimes(compiled.graph), compiled.placement()),
    ])
