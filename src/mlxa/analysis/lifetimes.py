"""Tensor lifetimes: node i runs at step i; a value is alive over the half-open interval from the
step that defines it to one past the step of its last use. Graph outputs live to the end."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlxa.ir.graph import Graph, Value


@dataclass(frozen=True)
class Lifetimes:
    """intervals[v] = (start, end), start inclusive, end exclusive; start < end. Only values that
    nodes define appear here: graph inputs and parameters live outside any plan."""

    intervals: Mapping[Value, tuple[int, int]]
    n_steps: int

    def last_use(self, v: Value) -> int:
        return self.intervals[v][1] - 1


def lifetimes(graph: Graph) -> Lifetimes:
    start: dict[Value, int] = {}
    last: dict[Value, int] = {}
    for step, node in enumerate(graph.nodes):
        for v in node.inputs:
            last[v] = step
        for v in node.outputs:
            start[v] = step
    n = len(graph.nodes)
    outputs = set(graph.outputs)
    intervals = {v: (s, n if v in outputs else max(last.get(v, s), s) + 1)
                 for v, s in start.items()}
    return Lifetimes(intervals, n)
