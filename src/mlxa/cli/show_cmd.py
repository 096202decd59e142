"""`mlxa show`: print a model's graph with lifetimes and fusion groups, then the compiled graph
with its memory plan; `--after PASS` prints the graph as that pass left it instead."""

from __future__ import annotations

import argparse
from typing import Any

from mlxa.cli.model_args import add_model_args, load_model
from mlxa.errors import UserInputError


def add_parser(sub: argparse._SubParsersAction) -> None:
    from mlxa.compiler import PASSES

    p = sub.add_parser("show", help="print a model's graph and its memory plan")
    add_model_args(p)
    p.add_argument("--planner", default="best", help="offset planner (default best)")
    p.add_argument("--after", metavar="PASS",
                   help="print the graph after this pass of the pipeline: "
                        + ", ".join(PASSES))
    p.add_argument("--reorder", action="store_true",
                   help="run the reordering pass too (off by default)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mlxa.compiler import PASSES, CompileOptions
    from mlxa.planners import PLANNERS

    if args.planner not in PLANNERS:
        raise UserInputError(f"unknown planner {args.planner!r}; known: {', '.join(PLANNERS)}")
    options = CompileOptions(planner=args.planner, reorder=args.reorder)
    if args.after is not None and args.after not in options.pass_names():
        known = ", ".join(options.pass_names())
        extra = " (add --reorder)" if args.after in PASSES else ""
        raise UserInputError(f"--after {args.after!r}: not a pass of this pipeline{extra}; "
                             f"it runs {known}")
    model = load_model(args)
    print(show_text(model.graph, options, args.after))
    return 0


def show_text(graph: Any, options: Any = None, after: str | None = None) -> str:
    from mlxa.analysis.lifetimes import lifetimes
    from mlxa.compiler import CompileOptions, compile_program
    from mlxa.ir.printer import format_graph
    from mlxa.passes.fuse_elementwise import fusion_groups
    from mlxa.units import format_nbytes

    dumps: dict[str, Any] = {}
    program = compile_program(graph, options or CompileOptions(),
                              instruments=[lambda record, g: dumps.__setitem__(record.name, g)])
    if after is not None:
        g = dumps[after]
        return f"# after {after}\n" + format_graph(g, lifetimes(g))
    groups = {i: k for k, g in enumerate(fusion_groups(graph)) for i in g}
    plan = program.plan
    passes = ", ".join(f"{r.name} ({r.nodes_before} -> {r.nodes_after} nodes)"
                       for r in program.passes)
    return "\n".join([
        "# as written", format_graph(graph, lifetimes(graph), groups=groups), "",
        f"# compiled by {passes or 'no passes'}: {len(program.fusion_groups)} fusion group(s), "
        f"arena {format_nbytes(plan.arena_nbytes)} ({plan.strategy}), lower bound "
        f"{format_nbytes(program.lower_bound_nbytes)}",
        format_graph(program.graph, lifetimes(program.graph), program.placement()),
    ])
