"""Per-node timing: each node (or fused group) of an executor timed over repeated inferences.

An executor's `time_nodes(*inputs)` runs one inference with a clock pair around every call. The
per-node figure is the median over the repeats, less the timer's own overhead (two clock
readings back to back, measured here). The sum of node medians is reported beside the
end-to-end median so the gap (Python dispatch between calls, input copies) is visible.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from mlxa.ir.graph import Node
from mlxa.ops import get_op
from mlxa.result import NodeTime, PerOp


def timer_overhead_s(clock: Callable[[], float] = time.perf_counter, n: int = 2000) -> float:
    """The clock's own cost inside a timed interval: the median of two readings back to back.
    Calling the node is the node's cost, not the timer's: a compiled kernel's call is a C-level
    partial (0.14 us), which a subtracted empty Python call (0.05 us) would have shaved off
    every node (digits_cnn's nodes summed 11-18% below its end-to-end time)."""
    samples = []
    for _ in range(n):
        t0 = clock()
        samples.append(clock() - t0)
    return float(np.median(samples))


def per_op(nodes: Sequence[tuple[int, Node]], time_once: Callable[[], list[float]],
           repeat: int, end_to_end_ms: float,
           clock: Callable[[], float] = time.perf_counter) -> PerOp:
    """`nodes` are (index, node) in the order `time_once` reports their seconds."""
    overhead = timer_overhead_s(clock)
    samples = np.array([time_once() for _ in range(repeat)])  # (repeat, nodes)
    medians_ms = np.maximum(np.median(samples, axis=0) - overhead, 0.0) * 1e3
    total = float(medians_ms.sum())
    rows = []
    for (index, node), ms in zip(nodes, medians_ms):
        cost = get_op(node.op).cost([v.type for v in node.inputs],
                                    [v.type for v in node.outputs], node.attrs)
        rows.append(NodeTime(index, node.name, node.op, node.outputs[0].shape, float(ms),
                             100.0 * ms / total if total else 0.0, cost.flops, cost.nbytes))
    return PerOp(tuple(rows), total, end_to_end_ms, overhead * 1e3, repeat)
