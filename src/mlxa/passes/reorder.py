"""Operator reordering for memory: the same nodes in another topological order, chosen so that
fewer intermediate bytes are alive at once.

Algorithm: beam search over list schedules. A partial schedule is the set of nodes already run;
its children append one ready node (every producer of its inputs already run). Each schedule
carries the bytes alive after its last node and the peak so far, counted as the arena counts
them: intermediates only (graph inputs, parameters and graph outputs live outside the arena),
sizes rounded up to the alignment, an input freed after the node that uses it last, and an
output that takes an input's buffer in place (the rule of analysis.buffers) allocating nothing.
Each step keeps the `beam_width` children with the lowest (peak, live bytes); of two schedules
of the same node set only the lower peak survives, since their futures are the same. So while no
step has more than `beam_width` node sets the search is exhaustive: a dynamic program over the
node sets that can have run, finding the lowest peak of any topological order (the zoo's graphs,
a few branches wide, stay under the default width). Width 1 is greedy list scheduling: run the
ready node that raises the peak least, then the one that leaves the fewest bytes alive. Both
widths run and the lowest exact bound wins (the search's accounting differs from the arena's
only for an in-place chain that ends in a graph output, which leaves the arena).

Invariant: the result is a topological order of the graph's nodes (the same Node objects, so the
same values, inputs, parameters and outputs) whose arena lower bound is at most the original
order's: the original order is returned when no schedule found is strictly better.

Complexity: O(n * B * (R * d + n / 64)) for n nodes, beam width B, at most R nodes ready at once
and d inputs and outputs per node (a node set is a bitmask of n bits), plus O(n log n) to score
each of the three candidate orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlxa.analysis.buffers import assign_buffers
from mlxa.ir.graph import Graph, Node, Value
from mlxa.ops import get_op
from mlxa.planners.contract import align_up

BEAM_WIDTH = 64


def reorder_for_memory(graph: Graph, beam_width: int = BEAM_WIDTH, alignment: int = 64,
                       inplace: bool = True, single_consumer: bool = False) -> Graph:
    """A schedule of `graph` with an arena lower bound no higher than its own (buffers assigned
    with `inplace` and `single_consumer` as in analysis.buffers.assign_buffers)."""
    problem = _Problem.of(graph, alignment, inplace, single_consumer)
    candidates = [graph] + [graph.replace(nodes=tuple(graph.nodes[i] for i in order))
                            for order in dict.fromkeys(_search(problem, w)
                                                       for w in (1, beam_width))]
    scores = [arena_bound(g, alignment, inplace, single_consumer) for g in candidates]
    return candidates[min(range(len(candidates)), key=scores.__getitem__)]


def arena_bound(graph: Graph, alignment: int = 64, inplace: bool = True,
                single_consumer: bool = False) -> int:
    """The arena lower bound of `graph` in its program order: the quantity reordering lowers."""
    return assign_buffers(graph, inplace, single_consumer).lower_bound(alignment)


@dataclass(frozen=True)
class _Problem:
    """The graph as the search needs it. Node i's producers are `preds[i]` (node indices);
    `users[v]` lists v's consumers once each, `uses[v]` counts every operand slot that reads v;
    `size[v]` is v's aligned arena bytes, 0 for a graph output."""

    nodes: tuple[Node, ...]
    preds: tuple[frozenset[int], ...]
    succs: tuple[tuple[int, ...], ...]
    users: Mapping[Value, tuple[int, ...]]
    uses: Mapping[Value, int]
    size: Mapping[Value, int]
    inplace: bool
    single_consumer: bool

    @staticmethod
    def of(graph: Graph, alignment: int, inplace: bool, single_consumer: bool) -> _Problem:
        producer = {v: i for i, n in enumerate(graph.nodes) for v in n.outputs}
        users: dict[Value, list[int]] = {}
        uses: dict[Value, int] = {}
        for i, n in enumerate(graph.nodes):
            for v in n.inputs:
                uses[v] = uses.get(v, 0) + 1
                if i not in users.setdefault(v, []):
                    users[v].append(i)
        preds = tuple(frozenset(producer[v] for v in n.inputs if v in producer)
                      for n in graph.nodes)
        succs: list[list[int]] = [[] for _ in graph.nodes]
        for i, p in enumerate(preds):
            for j in p:
                succs[j].append(i)
        outputs = set(graph.outputs)
        size = {v: 0 if v in outputs else align_up(v.nbytes, alignment) for v in producer}
        return _Problem(graph.nodes, preds, tuple(tuple(s) for s in succs),
                        {v: tuple(u) for v, u in users.items()}, uses, size, inplace,
                        single_consumer)


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


def _search(p: _Problem, width: int) -> tuple[int, ...]:
    ready = frozenset(i for i, pr in enumerate(p.preds) if not pr)
    states = [_State(0, ready, 0, 0)]
    for _ in p.nodes:
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


def _dies(p: _Problem, s: _State, i: int, v: Value) -> bool:
    """Whether node i is the last of v's consumers to run, given the nodes done."""
    return all(u == i or s.done >> u & 1 for u in p.users[v])


def _cost(p: _Problem, s: _State, i: int) -> tuple[int, int]:
    """(peak, live bytes) after running node i next."""
    node = p.nodes[i]
    donor = _donor(p, s, i)
    alloc = 0 if donor is not None else sum(p.size[v] for v in node.outputs)
    freed = sum(p.size[v] for v in set(node.inputs)
                if v in p.size and v is not donor and _dies(p, s, i, v))
    unused = sum(p.size[v] for v in node.outputs if v not in p.users)
    return max(s.peak, s.live + alloc), s.live + alloc - freed - unused


def _donor(p: _Problem, s: _State, i: int) -> Value | None:
    """The intermediate input whose buffer node i's output takes, as assign_buffers decides."""
    node = p.nodes[i]
    if not p.inplace or len(node.outputs) != 1 or p.size[node.output] == 0:
        return None
    for k in get_op(node.op).alias_candidates(node.attrs, len(node.inputs)):
        v = node.inputs[k]
        if (p.size.get(v, 0) and v.type == node.output.type and _dies(p, s, i, v)
                and (not p.single_consumer or p.uses[v] == 1)):
            return v
    return None


def _advance(p: _Problem, s: _State, i: int, peak: int, live: int) -> _State:
    done = s.done | 1 << i
    new = (j for j in p.succs[i] if all(done >> k & 1 for k in p.preds[j]))
    return _State(done, (s.ready - {i}) | frozenset(new), live, peak, i, s)
