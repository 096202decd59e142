"""The compiled program: everything compiling a graph decides, as frozen data.

`compile_program` runs the pipeline's passes, then the memory steps, each a plain function:

1. assign buffers (analysis.buffers: in-place sharing and views);
2. add each op's scratch as a buffer alive at its step (analysis.scratch);
3. plan offsets: every heuristic planner once (their arenas are reported side by side), the chosen
   planner's plan kept (`best` is the smallest of the heuristics, not a second run);
4. validate the plan against the one contract (planners.contract.validate);
5. size the blocked kernels' shared workspace;
6. the lower-bound steps, from the graphs the pipeline made (analysis.bound_steps).

Executors bind and run a program (runtime/); reports read it (session.py); nothing compiles the
same graph twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mlxa.analysis import bound_steps
from mlxa.analysis.buffers import BufferAssignment, assign_buffers
from mlxa.analysis.scratch import block_workspace_nbytes, op_scratch
from mlxa.compiler.options import CompileOptions
from mlxa.compiler.pipeline import Instrument, PassRecord, run_passes
from mlxa.ir.graph import Graph, Node, Value
from mlxa.ops import get_op
from mlxa.planners import Buffer, Plan, get_planner, lower_bound, validate
from mlxa.planners.registry import HEURISTICS, best_of


@dataclass(frozen=True)
class CompiledProgram:
    """A compiled graph and its memory plan. Invariants: `plan` passed the validator for
    `planned_buffers` (the assignment's arena buffers, then each op's scratch); `offsets` maps a
    planned buffer id to its offset; `aliases` are the steps of view ops that share their
    input's buffer and run nothing."""

    source: Graph
    graph: Graph
    options: CompileOptions
    passes: tuple[PassRecord, ...]
    assignment: BufferAssignment
    scratch: Mapping[int, Buffer]  # step -> its op's scratch buffer
    planned_buffers: tuple[Buffer, ...]
    plan: Plan
    heuristic_arenas: Mapping[str, int]
    lower_bound_nbytes: int
    bound_steps: tuple[tuple[str, int], ...]
    workspace_nbytes: int
    aliases: frozenset[int]

    @property
    def offsets(self) -> dict[int, int]:
        return {b.id: off for b, off in zip(self.planned_buffers, self.plan.offsets)}

    @property
    def fusion_groups(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.graph.nodes if n.op == "fused")

    @property
    def inplace_ops(self) -> int:
        """Values written over another value's buffer (in place or as a view)."""
        return sum(len(vs) - 1 for vs in self.assignment.values)

    @property
    def io_nbytes(self) -> int:
        """Input buffers plus output buffers: held outside the arena."""
        outs = sum(b.nbytes for b, out in zip(self.assignment.buffers, self.assignment.is_output)
                   if out)
        return sum(v.nbytes for v in self.graph.inputs) + outs

    @property
    def footprint_nbytes(self) -> int:
        return self.plan.arena_nbytes + self.workspace_nbytes + self.io_nbytes

    def placement(self) -> dict[Value, str]:
        """Where each value lives, for the printer: '@arena+OFFSET' or '@out'."""
        offsets = self.offsets
        return {v: f"@arena+{offsets[b]}" if b in offsets else "@out"
                for v, b in self.assignment.buffer_of.items()}

    def buffer_kinds(self) -> list[str]:
        """One kind per planned buffer: the op of its first value (an in-place chain or a view
        keeps the buffer its first value's op allocated), or "OP scratch" for an op's scratch."""
        producer = {v: node.op for node in self.graph.nodes for v in node.outputs}
        kinds = {b.id: producer[values[0]]
                 for b, values in zip(self.assignment.buffers, self.assignment.values)}
        for step, scratch in self.scratch.items():
            kinds[scratch.id] = f"{self.graph.nodes[step].op} scratch"
        return [kinds[b.id] for b in self.planned_buffers]


def compile_program(graph: Graph, options: CompileOptions | None = None,
                    instruments: Sequence[Instrument] = ()) -> CompiledProgram:
    options = options or CompileOptions()
    final, records, stage_bounds = _transform(graph, options, instruments)
    assignment = assign_buffers(final, inplace=options.inplace)
    scratch = op_scratch(final, first_id=len(assignment.buffers))
    planned = assignment.arena_buffers + tuple(scratch.values())
    plan, heuristic_arenas = _plan(planned, options)
    validate(planned, plan, options.alignment)
    bound = lower_bound(planned, options.alignment)
    steps = (*stage_bounds, (bound_steps.IN_PLACE, bound)) if options.inplace else stage_bounds
    return CompiledProgram(
        source=graph, graph=final, options=options, passes=records, assignment=assignment,
        scratch=scratch, planned_buffers=planned, plan=plan, heuristic_arenas=heuristic_arenas,
        lower_bound_nbytes=bound, bound_steps=tuple(steps),
        workspace_nbytes=block_workspace_nbytes(final),
        aliases=frozenset(_aliases(final, assignment)))


def _transform(graph: Graph, options: CompileOptions, instruments: Sequence[Instrument]
               ) -> tuple[Graph, tuple[PassRecord, ...], list[tuple[str, int]]]:
    """The pipeline's passes, with the bound (no sharing) after each, as an instrument."""
    align = options.alignment
    stage_bounds = [(bound_steps.AS_WRITTEN, bound_steps.arena_bound(graph, align, False))]

    def record_bound(record: PassRecord, result: Graph) -> None:
        if record.changed:
            stage_bounds.append((record.name, bound_steps.arena_bound(result, align, False)))

    final, records = run_passes(graph, options, (*instruments, record_bound))
    return final, records, stage_bounds


def _plan(buffers: tuple[Buffer, ...], options: CompileOptions) -> tuple[Plan, dict[str, int]]:
    """Every heuristic once (reported side by side); the chosen planner's plan."""
    plans = {name: planner(buffers, options.alignment) for name, planner in HEURISTICS.items()}
    arenas = {name: p.arena_nbytes for name, p in plans.items()}
    if options.planner in plans:
        return plans[options.planner], arenas
    if options.planner == "best":
        return best_of(list(plans.values())), arenas
    return get_planner(options.planner)(buffers, options.alignment), arenas


def _aliases(graph: Graph, assignment: BufferAssignment) -> list[int]:
    """Steps of view ops whose output shares its input's buffer: nothing to run."""
    return [step for step, node in enumerate(graph.nodes) if _is_alias(node, assignment)]


def _is_alias(node: Node, assignment: BufferAssignment) -> bool:
    buffer_of = assignment.buffer_of
    return (get_op(node.op).view and node.inputs[0] in buffer_of
            and buffer_of[node.inputs[0]] == buffer_of[node.output])
