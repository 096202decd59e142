"""Operator reordering for memory: the same nodes in another topological order, chosen so that
fewer intermediate bytes are alive at once.

Algorithm: beam search over list schedules. A partial schedule is the set of nodes already run;
its children append one ready node (every producer of its inputs already run). Each schedule
carries the bytes alive after its last node and the peak so far, counted as the arena counts
them (analysis.buffers' rules): intermediates only (graph inputs, parameters and graph outputs
live outside the arena), sizes rounded up to the alignment, a buffer freed after the last node
that reads any of its values, a view sharing its input's buffer, and an output that takes an
input's buffer in place allocating nothing.
Each step keeps the `beam_width` children with the lowest (peak, live bytes); of two schedules
of the same node set only the lower peak survives, since their futures are the same. So while no
step has more than `beam_width` node sets the search is exhaustive: a dynamic program over the
node sets that can have run, finding the lowest peak of any topological order (the zoo's graphs,
a few branches wide, stay under the default width). Width 1 is greedy list scheduling: run the
ready node that raises the peak least, then the one that leaves the fewest bytes alive. Both
widths run and the lowest exact bound wins. (The search's accounting differs from the arena's
only where a value read by several nodes ends, in some orders, in a graph output's buffer by
in-place writes: that moves it out of the arena for all its life, which a running count cannot
know when it starts.)

Invariant: the result is a topological order of the graph's nodes (the same Node objects, so the
same values, inputs, parameters and outputs) whose arena lower bound is at most the original
order's: the original order is returned when no schedule found is strictly better.

Complexity: O(n * B * (R * d + n / 64)) for n nodes, beam width B, at most R nodes ready at once
and d inputs and outputs per node (a node set is a bitmask of n bits), plus O(n log n) to score
each of the three candidate orders. R can be as large as n (one node feeding a thousand others),
so each search stops at a deadline (`time_limit_s`, the greedy search first): a search cut short
contributes no candidate, and the original order always remains one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from mlxa.analysis.buffers import assign_buffers
from mlxa.ir.graph import Graph, Node, Value
from mlxa.ops import get_op
from mlxa.planners.contract import ALIGNMENT, align_up

BEAM_WIDTH = 64
TIME_LIMIT_S = 2.0


def reorder_for_memory(graph: Graph, beam_width: int = BEAM_WIDTH, alignment: int = ALIGNMENT,
                       inplace: bool = True, single_consumer: bool = False,
                       time_limit_s: float = TIME_LIMIT_S) -> Graph:
    """A schedule of `graph` with an arena lower bound no higher than its own (buffers assigned
    with `inplace` and `single_consumer` as in analysis.buffers.assign_buffers), found within
    about `time_limit_s`."""
    problem = _Problem.of(graph, alignment, inplace, single_consumer)
    deadline = time.monotonic() + time_limit_s
    orders = [_search(problem, w, deadline) for w in (1, beam_width)]
    candidates = [graph] + [graph.replace(nodes=tuple(graph.nodes[i] for i in order))
                            for order in dict.fromkeys(o for o in orders if o is not None)]
    scores = [arena_bound(g, alignment, inplace, single_consumer) for g in candidates]
    return candidates[min(range(len(candidates)), key=scores.__getitem__)]


def arena_bound(graph: Graph, alignment: int = ALIGNMENT, inplace: bool = True,
                single_consumer: bool = False) -> int:
    """The arena lower bound of `graph` in its program order: the quantity reordering lowers."""
    return assign_buffers(graph, inplace, single_consumer).lower_bound(alignment)


@dataclass(frozen=True)
class _Problem:
    """The graph as the search needs it. Node i's producers are `preds[i]` (node indices);
    `users[v]` lists v's consumers once each, `uses[v]` counts every operand slot that reads v.
    Values a node defines fall into buffers: `group[v]` is the first value of v's buffer, whose
    `members` are that value and the views of it (which share its bytes whatever the order);
    `size[g]` is the buffer's aligned bytes, 0 when it holds a graph output (outside the arena)."""

    nodes: tuple[Node, ...]
    preds: tuple[frozenset[int], ...]
    succs: tuple[tuple[int, ...], ...]
    users: Mapping[Value, tuple[int, ...]]
    uses: Mapping[Value, int]
    group: Mapping[Value, Value]
    members: Mapping[Value, tuple[Value, ...]]
    size: Mapping[Value, int]
    inplace: bool
    single_consumer: bool

    @staticmethod
    def of(graph: Graph, alignment: int, inplace: bool, single_consumer: bool) -> _Problem:
        producer = {v: i for i, n in enumerate(graph.nodes) for v in n.outputs}
        users, uses = _users(graph)
        preds = tuple(frozenset(producer[v] for v in n.inputs if v in producer)
                      for n in graph.nodes)
        succs: list[list[int]] = [[] for _ in graph.nodes]
        for i, pr in enumerate(preds):
            for j in pr:
                succs[j].append(i)
        group = _view_groups(graph, inplace and not single_consumer)
        members: dict[Value, list[Value]] = {}
        for v, g in group.items():
            members.setdefault(g, []).append(v)
        outputs = set(graph.outputs)
        size = {g: 0 if outputs.intersection(m) else align_up(g.nbytes, alignment)
                for g, m in members.items()}
        if inplace:
            _merge_into_outputs(graph, group, members, size, users, uses, single_consumer)
        return _Problem(graph.nodes, preds, tuple(tuple(x) for x in succs), users, uses, group,
                        {g: tuple(m) for g, m in members.items()}, size, inplace,
                        single_consumer)


def _merge_into_outputs(graph: Graph, group: Mapping[Value, Value],
                        members: Mapping[Value, list[Value]], size: dict[Value, int],
                        users: Mapping[Value, tuple[int, ...]], uses: Mapping[Value, int],
                        single_consumer: bool) -> None:
    """Zero the size of buffers that become a graph output's in any order: a buffer read by one
    node alone, whose output (outside the arena) takes it in place before any other input can.
    Walking the nodes backwards carries this up whole in-place chains, as assign_buffers does."""
    for i in reversed(range(len(graph.nodes))):
        node = graph.nodes[i]
        if len(node.outputs) != 1 or size[group[node.output]]:
            continue
        for k in get_op(node.op).alias_candidates(node.attrs, len(node.inputs)):
            v = node.inputs[k]
            if v not in group or v.type != node.output.type or v in graph.outputs:
                continue  # never a donor, whatever the order
            g = group[v]
            if ({u for m in members[g] for u in users.get(m, ())} == {i}
                    and (not single_consumer or uses[v] == 1)):
                size[g] = 0
            break  # the first possible donor decides, in some orders at least


def _users(graph: Graph) -> tuple[dict[Value, tuple[int, ...]], dict[Value, int]]:
    users: dict[Value, list[int]] = {}
    uses: dict[Value, int] = {}
    for i, n in enumerate(graph.nodes):
        for v in n.inputs:
            uses[v] = uses.get(v, 0) + 1
            if i not in users.setdefault(v, []):
                users[v].append(i)
    return {v: tuple(u) for v, u in users.items()}, uses


def _view_groups(graph: Graph, share_views: bool) -> dict[Value, Value]:
    """value -> the first value of its buffer: a view op's output joins its input's buffer when
    the input is an intermediate of the same bytes (analysis.buffers' rule)."""
    group: dict[Value, Value] = {}
    for node in graph.nodes:
        for v in node.outputs:
            group[v] = v
        x = node.inputs[0] if node.inputs else None
        if (share_views and get_op(node.op).view and len(node.outputs) == 1 and x in group
                and x.nbytes == node.output.nbytes):
            group[node.output] = group[x]
    return group


@dataclass(frozen=True, eq=False)
class _State:
    """A partial schedule: `done` is the bitmask of nodes run, `ready` the nodes that may run
    next; `live` bytes are alive after the last node and `peak` is the most alive at any step.
    The order is recovered through `prev` (a linked list, so extending a schedule is O(1))."""

    done: int
    ready: frozenset[int]
    live: int
    peak: int
    node: int = -1
    prev: _State | None = None

    def order(self) -> tuple[int, ...]:
        out: list[int] = []
        s: _State | None = self
        while s is not None and s.node >= 0:
            out.append(s.node)
            s = s.prev
        return tuple(reversed(out))


def _search(p: _Problem, width: int, deadline: float) -> tuple[int, ...] | None:
    """The best schedule the beam finds, or None when the deadline passes first."""
    ready = frozenset(i for i, pr in enumerate(p.preds) if not pr)
    states = [_State(0, ready, 0, 0)]
    for _ in p.nodes:
        if time.monotonic() > deadline:
            return None
        children = [(*_cost(p, s, i), s, i) for s in states for i in sorted(s.ready)]
        children.sort(key=lambda c: (c[0], c[1]))  # stable: ties keep the original order
        seen: set[int] = set()
        states = []
        for peak, live, s, i in children:
            done = s.done | 1 << i
            if done not in seen:
                seen.add(done)
                states.append(_advance(p, s, i, peak, live))
                if len(states) == width:
                    break
    return states[0].order()


def _dies(p: _Problem, s: _State, i: int, g: Value) -> bool:
    """Whether buffer g is free once node i has run: every consumer of its values has run."""
    return all(u == i or s.done >> u & 1 for m in p.members[g] for u in p.users.get(m, ()))


def _cost(p: _Problem, s: _State, i: int) -> tuple[int, int]:
    """(peak, live bytes) after running node i next."""
    node = p.nodes[i]
    donor = _donor(p, s, i)
    alloc = 0 if donor is not None else sum(p.size[v] for v in node.outputs if p.group[v] is v)
    touched = {p.group[v] for v in (*node.inputs, *node.outputs) if v in p.group}
    freed = sum(p.size[g] for g in touched if g is not donor and _dies(p, s, i, g))
    return max(s.peak, s.live + alloc), s.live + alloc - freed


def _donor(p: _Problem, s: _State, i: int) -> Value | None:
    """The buffer (its first value) that node i's output takes in place, as assign_buffers
    decides: an input's buffer of the same type, in the arena, free once node i has run."""
    node = p.nodes[i]
    if not p.inplace or len(node.outputs) != 1 or p.size[p.group[node.output]] == 0:
        return None
    for k in get_op(node.op).alias_candidates(node.attrs, len(node.inputs)):
        v = node.inputs[k]
        g = p.group.get(v)
        if (g is not None and p.size[g] and v.type == node.output.type and _dies(p, s, i, g)
                and (not p.single_consumer or p.uses[v] == 1)):
            return g
    return None


def _advance(p: _Problem, s: _State, i: int, peak: int, live: int) -> _State:
    done = s.done | 1 << i
    new = (j for j in p.succs[i] if all(done >> k & 1 for k in p.preds[j]))
    return _State(done, (s.ready - {i}) | frozenset(new), live, peak, i, s)
