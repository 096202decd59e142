"""The baseline executor: eager numpy, as numpy and PyTorch eager run a model.

Every op allocates its result; a tensor is freed when its last consumer has run (as reference
counting frees it in an eager framework). The kernels are the op table's, the same ones the
compiled executor runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from mlxa.analysis.lifetimes import lifetimes
from mlxa.ir.graph import Graph, Value
from mlxa.ops import get_op
from mlxa.runtime.inputs import check_inputs


class EagerModel:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        life = lifetimes(graph)
        outputs = set(graph.outputs)
        dying: list[list[Value]] = [[] for _ in graph.nodes]
        for v, (_, end) in life.intervals.items():
            if v not in outputs:
                dying[end - 1].append(v)
        self._steps = [(get_op(n.op).kernel, n.inputs, n.outputs, n.attrs, dying[i])
                       for i, n in enumerate(graph.nodes)]

    def __call__(self, *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        env = self._env(inputs)
        for kernel, ins, outs, attrs, dying in self._steps:
            env.update(zip(outs, kernel([env[v] for v in ins], None, attrs)))
            for v in dying:
                del env[v]
        return tuple(env[v] for v in self.graph.outputs)

    def time_nodes(self, *inputs: np.ndarray,
                   clock: Callable[[], float] = time.perf_counter) -> list[float]:
        """One inference, each node timed (its kernel call, allocation included)."""
        env = self._env(inputs)
        times = []
        for kernel, ins, outs, attrs, dying in self._steps:
            t0 = clock()
            env.update(zip(outs, kernel([env[v] for v in ins], None, attrs)))
            times.append(clock() - t0)
            for v in dying:
                del env[v]
        return times

    def _env(self, inputs: tuple[np.ndarray, ...]) -> dict[Value, np.ndarray]:
        check_inputs(self.graph, inputs)
        env: dict[Value, np.ndarray] = dict(self.graph.params)
        env.update(zip(self.graph.inputs, inputs))
        return env
