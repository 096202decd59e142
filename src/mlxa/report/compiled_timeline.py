"""The memory timeline of a compiled model's plan: its planned buffers (intermediates and each
op's scratch) drawn by report.timeline_plot, each coloured by the op that allocates it."""

from __future__ import annotations

import os

from mlxa.runtime.compiled import CompiledModel


def buffer_kinds(compiled: CompiledModel) -> list[str]:
    """One kind per planned buffer: the op of its first value (an in-place chain or a view keeps
    the buffer its first value's op allocated), or "OP scratch" for an op's workspace."""
    producer = {v: node.op for node in compiled.graph.nodes for v in node.outputs}
    kinds = {b.id: producer[values[0]]
             for b, values in zip(compiled.assignment.buffers, compiled.assignment.values)}
    for step, scratch in compiled.scratch_of.items():
        kinds[scratch.id] = f"{compiled.graph.nodes[step].op} scratch"
    return [kinds[b.id] for b in compiled.planned_buffers]


def write_timeline(compiled: CompiledModel, path: str | os.PathLike[str], title: str = "") -> None:
    """The plan as a PNG at `path`, written atomically (UserInputError without matplotlib)."""
    from mlxa.report.timeline_plot import render_timeline_png

    render_timeline_png(compiled.planned_buffers, compiled.plan, path, buffer_kinds(compiled),
                        title)
