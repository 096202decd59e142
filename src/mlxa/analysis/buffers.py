"""Buffer assignment: which values share a buffer (in-place), which buffers the arena must hold,
and the planning instance (lifetimes + sizes) they form.

In-place rule: an op whose table entry allows it writes into the buffer of an input of the same
type that dies at that op, provided the input is an intermediate (not a graph input, parameter or
output). With `single_consumer=True` the input must also have one consumer (TFLite's rule).
View ops (reshape and kin: the same bytes in a new shape) share their input's buffer whenever
they may (not under TFLite's rule), as eager views do. Values aliased either way form one buffer
whose lifetime is the union of theirs; an op writes in place only into a buffer none of whose
values is needed after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlxa.analysis.lifetimes import lifetimes
from mlxa.ir.graph import Graph, Node, Value
from mlxa.ops import get_op
from mlxa.planners.contract import Buffer, lower_bound


@dataclass(frozen=True)
class BufferAssignment:
    """buffer_of[v] for every value a node defines; arena buffers are those holding no graph
    output. `buffers[i]` is buffer i's planning request, `values[i]` the values it holds."""

    buffer_of: Mapping[Value, int]
    buffers: tuple[Buffer, ...]
    values: tuple[tuple[Value, ...], ...]
    is_output: tuple[bool, ...]

    @property
    def arena_buffers(self) -> tuple[Buffer, ...]:
        return tuple(b for b, out in zip(self.buffers, self.is_output) if not out)

    def lower_bound(self, alignment: int) -> int:
        return lower_bound(self.arena_buffers, alignment)


def assign_buffers(graph: Graph, inplace: bool = True,
                   single_consumer: bool = False) -> BufferAssignment:
    life = lifetimes(graph)
    consumers = graph.consumers()
    outputs = set(graph.outputs)
    root: dict[Value, Value] = {}
    group_end: dict[Value, int] = {}  # root -> end of the last-living value in its buffer
    for step, node in enumerate(graph.nodes):
        for v in node.outputs:
            root[v] = v
        donor = _donor(node, step, life.intervals, root, group_end, outputs, consumers,
                       single_consumer) if inplace else None
        if donor is not None:
            root[node.output] = root[donor]
        for v in node.outputs:
            r = root[v]
            # a graph output's buffer is read after the last step: it never ends
            end = life.n_steps + 1 if v in outputs else life.intervals[v][1]
            group_end[r] = max(group_end.get(r, 0), end)
    groups: dict[Value, list[Value]] = {}
    for v in root:
        groups.setdefault(root[v], []).append(v)
    return _collect(groups, life.intervals, outputs)


def _donor(node: Node, step: int, intervals: Mapping[Value, tuple[int, int]],
           root: dict[Value, Value], group_end: Mapping[Value, int], outputs: set[Value],
           consumers: Mapping[Value, list[Node]], single_consumer: bool) -> Value | None:
    if len(node.outputs) != 1:
        return None
    out = node.output
    op = get_op(node.op)
    if op.view:  # the same bytes in a new shape: share them, as an eager view does
        v = node.inputs[0]
        return v if v in root and v.nbytes == out.nbytes and not single_consumer else None
    for k in op.alias_candidates(node.attrs, len(node.inputs)):
        v = node.inputs[k]
        if (v in root and v.type == out.type and v not in outputs
                and group_end[root[v]] == step + 1  # nothing else in its buffer lives on
                and (not single_consumer or len(consumers.get(v, ())) == 1)):
            return v
    return None


def _collect(groups: dict[Value, list[Value]], intervals: Mapping[Value, tuple[int, int]],
             outputs: set[Value]) -> BufferAssignment:
    buffer_of: dict[Value, int] = {}
    buffers, values, is_output = [], [], []
    for i, members in enumerate(sorted(groups.values(), key=lambda m: intervals[m[0]][0])):
        for v in members:
            buffer_of[v] = i
        start = min(intervals[v][0] for v in members)
        end = max(intervals[v][1] for v in members)
        buffers.append(Buffer(i, start, end, members[0].nbytes))
        values.append(tuple(members))
        is_output.append(any(v in outputs for v in members))
    return BufferAssignment(buffer_of, tuple(buffers), tuple(values), tuple(is_output))
