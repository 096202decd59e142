"""Per-node times with their spread, and the end-to-end time, of one or more executors.

Rounds take turns: in each round every executor runs one inference timed node by node
(`time_nodes`) and one inference timed whole, so load that arrives mid-run lands on all of them.
Rounds repeat until the time budget is spent (at least `min_rounds`, at most `max_rounds`). Node
figures are less the timer's own overhead (profile/per_node.timer_overhead_s).

Before its timed inferences each executor runs untimed ones, for at least WARM_S: one would
leave it in the caches another executor filled, and after a large matrix product a model of a
few microseconds needs several (digits_cnn's input copy took 3.0 us after one, 1.3 us after
enough; its nodes summed 14% above its end-to-end time). A model that needs several runs the
node-timed path last (`time_nodes`, its own code): warm plain calls alone left digits_cnn's
input copy at 1.6 us in the rounds against 0.8 in a loop of `time_nodes`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlxa.profile.per_node import timer_overhead_s
from mlxa.profile.spread import Spread, spread_of
from mlxa.report.progress import Progress, no_progress

WARM_S = 2e-4  # untimed inferences before each executor's timed ones, at least one


@dataclass(frozen=True)
class NodeTimes:
    """Seconds per node (rows: rounds, columns: the executor's calls in order), the whole
    inference's spread, and the timer overhead already subtracted."""

    samples_s: np.ndarray
    end_to_end: Spread
    timer_overhead_s: float

    @property
    def rounds(self) -> int:
        return int(self.samples_s.shape[0])

    def node_spread(self, k: int) -> Spread:
        return spread_of(self.samples_s[:, k].tolist())

    @property
    def round_sums(self) -> Spread:
        """Each round's node times summed: one inference as the nodes add it up."""
        return spread_of(self.samples_s.sum(axis=1).tolist())


def measure_node_times(executors: Mapping[str, Any], inputs: tuple[np.ndarray, ...],
                       budget_s: float, min_rounds: int = 3, max_rounds: int = 50,
                       clock: Callable[[], float] = time.perf_counter,
                       progress: Progress = no_progress) -> dict[str, NodeTimes]:
    """`progress` hears the seconds spent against `budget_s` after each round, between them."""
    overhead = timer_overhead_s(clock)
    for ex in executors.values():
        ex(*inputs)  # warm-up: first-touch pages, lazily built weights, BLAS threads
    nodes: dict[str, list[list[float]]] = {k: [] for k in executors}
    whole: dict[str, list[float]] = {k: [] for k in executors}
    start = clock()
    while (len(whole[next(iter(executors))]) < min_rounds
           or (clock() - start < budget_s and len(whole[next(iter(executors))]) < max_rounds)):
        for key, ex in executors.items():
            # untimed calls first: the node-timed pass would otherwise run in the caches the
            # other executor left (+40% on small_cnn), the whole call after it in its own
            warm = clock()
            ex(*inputs)
            if clock() - warm < WARM_S:  # a small model: more, the last the node-timed path
                while clock() - warm < WARM_S:
                    ex(*inputs)
                ex.time_nodes(*inputs, clock=clock)
            nodes[key].append(ex.time_nodes(*inputs, clock=clock))
            t0 = clock()
            ex(*inputs)
            whole[key].append(clock() - t0)
        progress("node times", min(clock() - start, budget_s), budget_s)
    progress("node times", budget_s, budget_s)
    return {k: NodeTimes(np.maximum(np.array(nodes[k]) - overhead, 0.0), spread_of(whole[k]),
                         overhead)
            for k in executors}
