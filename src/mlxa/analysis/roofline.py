"""Every node of a model on this machine's roofline: what it costs, how long it took, what the
roofline says it should take, and what would help.

For each node (a fused group counts as one): FLOPs from the op table; bytes moved = every input
read once and every output written once, plus its op scratch written then read (a conv's column
buffer: 2 x scratch bytes); view ops move nothing and run nothing (compiled) or return a view
(eager), so they get no roof. Bytes move at the copy bandwidth of the cache level they come
from: the node's working set (bytes moved, scratch once) for most, and for an input read from
further away, its reuse distance (analysis/reuse.py: a weight read once per inference comes from
wherever a whole round of the program's memory fits, DRAM for a large model), at the measured
rate of a read at that distance (the ceilings' reread curve):
    memory time = near bytes / bandwidth(working set) + sum of far input bytes / reread(reuse)
The compute roof is the FP32 peak: by default a matrix product timed in the same rounds as the
nodes, so the roof sees the load the nodes saw (the cached best-of peak, machine/ceilings.py, is
reported beside it). Every call also pays the executor's fixed cost of making it, whatever its
work: the call floor, the cheapest call a node can make here (an empty compiled function called
the way the kernels are, analysis/roofline_run.py), timed in the same rounds:
    predicted = call floor + max(FLOPs / peak, memory time)
efficiency = predicted / measured; a node is compute-bound when FLOPs / peak is the larger term,
call-bound when the floor is larger than both. The compiled executor's copy of the inputs into
its arena is a row of its own ("in"): it moves their bytes twice and computes nothing, and it
is no compiled call but the executor's Python checks and one numpy assignment, so its floor is
the load floor, that copy of a one-element input timed in the same rounds.
The fused elementwise kernels' block temporaries stay in cache by design and are not counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlxa.ir.graph import Node
from mlxa.machine.ceilings import Ceilings, roof_flops_per_s, roof_time_s
from mlxa.ops import get_op
from mlxa.profile.spread import Spread
from mlxa.result import Versioned, to_json

SCHEMA = "mlxa.roofline/4"
WITHIN = 2.0  # "the roofline predicts the node" when measured / predicted is within this factor
DISPATCH_US = 30.0  # below this a node's time is mostly Python and ufunc dispatch


@dataclass(frozen=True)
class NodeWork:
    """What one call does: FLOPs, bytes moved (scratch traffic included), working set, and its
    inputs as (bytes, reuse distance in bytes) where the distance is known (analysis/reuse.py)."""

    index: int
    name: str
    op: str
    shape: tuple[int, ...]
    flops: int
    moved_nbytes: int
    scratch_nbytes: int
    view: bool
    reads: tuple[tuple[int, int], ...] = ()

    @property
    def working_set_nbytes(self) -> int:
        return self.moved_nbytes - self.scratch_nbytes

    @property
    def label(self) -> str:
        """%index, or "in" for the compiled executor's input copy (index -1)."""
        return "in" if self.index < 0 else f"%{self.index}"

    @property
    def intensity_flops_per_byte(self) -> float:
        return self.flops / self.moved_nbytes if self.moved_nbytes else 0.0


@dataclass(frozen=True)
class RooflineRow:
    work: NodeWork
    measured_ms: float
    p10_ms: float
    p90_ms: float
    share_pct: float
    bandwidth_bytes_per_s: float  # bytes moved / memory time (the levels they come from)
    far_nbytes: int  # input bytes read from a level beyond the working set's (reuse distance)
    roof_flops_per_s: float  # min(peak, bandwidth x intensity)
    predicted_ms: float
    bound: str  # "memory", "compute", "call" (the call floor is the largest term) or "view"
    hint: str

    @property
    def achieved_flops_per_s(self) -> float:
        return self.work.flops / (self.measured_ms / 1e3) if self.measured_ms > 0 else 0.0

    @property
    def achieved_bytes_per_s(self) -> float:
        return self.work.moved_nbytes / (self.measured_ms / 1e3) if self.measured_ms > 0 else 0.0

    @property
    def efficiency_ratio(self) -> float:
        return self.predicted_ms / self.measured_ms if self.measured_ms > 0 else 0.0

    @property
    def lost_ms(self) -> float:
        return max(self.measured_ms - self.predicted_ms, 0.0)

    @property
    def within(self) -> bool:
        return (self.bound != "view" and self.predicted_ms > 0
                and self.measured_ms / WITHIN <= self.predicted_ms <= self.measured_ms * WITHIN)


@dataclass(frozen=True)
class ExecutorRoofline:
    executor: str  # "compiled" or "eager"
    rows: tuple[RooflineRow, ...]
    end_to_end: Spread
    round_sums: Spread  # each round's node times summed
    timer_overhead_ms: float
    rounds: int

    @property
    def sum_ms(self) -> float:
        """The sum of node medians (under heavy-tailed noise below the median of the sums)."""
        return sum(r.measured_ms for r in self.rows)

    @property
    def sum_vs_end_to_end_pct(self) -> float:
        """How far the median round's summed node times is from the end-to-end median
        (+: above): the gap is the executor's dispatch between calls (the compiled input copy
        is a row of its own)."""
        e2e = self.end_to_end.median_s
        return 100.0 * (self.round_sums.median_s - e2e) / e2e if e2e else 0.0

    @property
    def within_pct(self) -> float:
        """Share of the time of nodes with a roof whose prediction is within WITHIN x."""
        timed = [r for r in self.rows if r.bound != "view"]
        total = sum(r.measured_ms for r in timed)
        return 100.0 * sum(r.measured_ms for r in timed if r.within) / total if total else 0.0


@dataclass(frozen=True)
class RooflineResult(Versioned):
    model: str
    description: str
    inputs: tuple[str, ...]
    ceilings_fingerprint: str
    ceilings_note: str
    peak_flops_per_s: float  # the compute roof the rows use
    ceilings_peak_flops_per_s: float  # the cached best-of peak (mlxa machine)
    int8_ops_per_s: float | None
    call_floor_s: float  # the cheapest call a node can make, added to every roof time
    load_floor_s: float  # the input copy's floor, added to its roof time (row "in")
    executors: tuple[ExecutorRoofline, ...]  # compiled first
    meta: dict[str, Any]
    warnings: tuple[str, ...] = ()
    schema: str = SCHEMA

    def to_json(self) -> dict[str, Any]:
        data = to_json(self)
        for ex, ex_data in zip(self.executors, data["executors"]):  # derived figures, for readers
            ex_data.update(sum_ms=ex.sum_ms, sum_vs_end_to_end_pct=ex.sum_vs_end_to_end_pct,
                           within_pct=ex.within_pct)
        return data


    def top_lost(self, n: int = 10) -> tuple[RooflineRow, ...]:
        rows = self.executors[0].rows
        return tuple(sorted(rows, key=lambda r: -r.lost_ms)[:n])


def time_unit(end_to_end_s: float) -> tuple[float, str]:
    """(factor from ms, name) the reports print an executor's times in: us below 0.1 ms end to
    end (a model of a few microseconds would read 0.00 ms), else ms."""
    return (1e3, "us") if end_to_end_s < 1e-4 else (1.0, "ms")


def node_work(index: int, node: Node, scratch_nbytes: int) -> NodeWork:
    op = get_op(node.op)
    cost = op.cost([v.type for v in node.inputs], [v.type for v in node.outputs], node.attrs)
    label = f"fused[{node.name}]" if node.op == "fused" else node.op
    moved = 0 if op.view else cost.nbytes + 2 * scratch_nbytes
    return NodeWork(index, node.name, label, node.outputs[0].shape, cost.flops, moved,
                    0 if op.view else scratch_nbytes, op.view)


def eager_scratch_nbytes(node: Node) -> int:
    op = get_op(node.op)
    if op.ew is not None:
        return 0
    return op.workspace_nbytes([v.type for v in node.inputs], [v.type for v in node.outputs],
                               node.attrs)


def roofline_rows(works: Sequence[NodeWork], times: Sequence[Spread], ceilings: Ceilings,
                  peak_flops_per_s: float | None = None,
                  call_floor_s: float = 0.0,
                  load_floor_s: float | None = None) -> tuple[RooflineRow, ...]:
    """One row per node: `times` are each node's seconds, in the order of `works`; the compute
    roof is `peak_flops_per_s` when given, else the ceilings' peak; `call_floor_s` is added to
    every node's roof time, `load_floor_s` (default: the call floor) to the input copy's."""
    total_s = sum(t.median_s for t in times)
    peak = peak_flops_per_s or ceilings.peak_flops_per_s
    rows = []
    for w, t in zip(works, times):
        memory_s, far = memory_time_s(w, ceilings)
        bw = w.moved_nbytes / memory_s if memory_s > 0 else ceilings.bandwidth_at(0)
        if w.view:
            predicted, bound, roof = 0.0, "view", 0.0
        else:
            work_s = roof_time_s(w.flops, w.moved_nbytes, peak, bw)
            floor = call_floor_s if w.index >= 0 or load_floor_s is None else load_floor_s
            predicted = floor + work_s
            bound = ("call" if floor > work_s else
                     "compute" if w.flops / peak >= memory_s else "memory")
            roof = roof_flops_per_s(w.intensity_flops_per_byte, peak, bw)
        rows.append(RooflineRow(w, t.median_s * 1e3, t.p10_s * 1e3, t.p90_s * 1e3,
                                100.0 * t.median_s / total_s if total_s else 0.0, bw, far, roof,
                                predicted * 1e3, bound,
                                hint(w, bound, t.median_s, predicted, ceilings, peak, far)))
    return tuple(rows)


def memory_time_s(w: NodeWork, ceilings: Ceilings) -> tuple[float, int]:
    """Seconds to move the node's bytes, and how many of them come from beyond its working
    set's level: an input whose reuse distance exceeds the working set moves at the reread
    rate of that distance, the rest at the copy bandwidth of the working set."""
    ws = w.working_set_nbytes
    far = [(n, d) for n, d in w.reads if d > ws and n > 0]
    far_nbytes = sum(n for n, _ in far)
    # an op that reads part of an input (a gather) moves fewer bytes than its inputs hold
    scale = min(1.0, w.moved_nbytes / far_nbytes) if far_nbytes else 1.0
    far_s = sum(scale * n / ceilings.reread_at(d) for n, d in far)
    near = w.moved_nbytes - scale * far_nbytes
    return near / ceilings.bandwidth_at(ws) + far_s, int(scale * far_nbytes)


def hint(w: NodeWork, bound: str, measured_s: float, predicted_s: float,
         ceilings: Ceilings, peak_flops_per_s: float, far_nbytes: int = 0) -> str:
    """What would bring this node nearer its roof (or past it)."""
    if bound == "view":
        return "a view: no data moves"
    eff = predicted_s / measured_s if measured_s > 0 else 1.0
    if w.index < 0:
        return (f"the executor's copy of the inputs into its arena: {measured_s * 1e6:.1f} us "
                f"against a roof of {predicted_s * 1e6:.1f} us; "
                + ("its Python (the checks, the numpy call: the load floor) costs more than "
                   "the bytes; a caller that writes its input in place would save it"
                   if bound == "call" else "the bytes cost more than its Python"))
    if bound == "call" and 1 / WITHIN <= eff <= WITHIN:  # near a roof that is mostly the call
        return (f"call-bound: the call itself costs more here than its work; {measured_s * 1e6:.1f}"
                f" us against a roof of {predicted_s * 1e6:.1f} us: fuse it into a neighbour or "
                "give each call more work (batch)")
    if measured_s * 1e6 < DISPATCH_US and eff < 0.5:
        return (f"dispatch-bound: {measured_s * 1e6:.0f} us for {predicted_s * 1e6:.1f} us of "
                "work; fuse it into a neighbour or give each call more work (batch)")
    if eff > WITHIN:
        return (f"{eff:.1f}x faster than its roof: the kernel does less work than the op table "
                "counts (a Winograd conv multiplies less) or the ceiling was measured low")
    if bound == "call":  # far above a roof the call floor sets: not the call, the kernel
        return (f"{measured_s * 1e6:.0f} us where a call and its work take "
                f"{predicted_s * 1e6:.1f}: the kernel's own overhead (Python around it, a numpy "
                "call per piece) is slow; fuse it into a neighbour or give it a compiled kernel")
    if bound == "compute":
        int8 = ceilings.int8.ops_per_s / peak_flops_per_s if ceilings.int8 else 0.0
        more = f"; INT8 has {int8:.1f}x the FP32 peak here" if int8 > 1 else ""
        if eff < 0.5:
            return (f"compute-bound at {eff:.0%} of the FP32 peak: a better kernel path "
                    f"(GEMM blocking, Winograd), a larger batch{more}")
        return f"near the compute roof: only fewer FLOPs help (Winograd, pruning){more}"
    if far_nbytes * 2 > w.moved_nbytes:
        far = f"{far_nbytes / 2**20:.1f} MiB of it from beyond the caches"
        if eff < 0.5:
            return (f"memory-bound at {eff:.0%} of bandwidth, {far}, slower than such reads "
                    "run: the kernel's access pattern, or memory its library touches between "
                    "two reads; a larger batch reads them once for more work")
        return (f"memory-bound at {eff:.0%} of bandwidth, {far} (inputs read once per "
                "inference, weights most often): a larger batch reads them once for more "
                "work; INT8 weights move a quarter")
    if w.op.startswith("fused"):
        return (f"fused, memory-bound at {eff:.0%} of bandwidth: its per-block ufunc calls cost "
                "more than the bytes (larger blocks, vectorized transcendentals)"
                if eff < 0.5 else "fused and near the bandwidth roof: only fewer bytes help "
                                  "(lower precision, fuse into the producer)")
    if eff < 0.5:
        return (f"memory-bound at {eff:.0%} of bandwidth: the kernel, not memory, is slow "
                "(strided access, Python loops, unvectorized math)")
    return ("memory-bound near its roof: move fewer bytes (fuse with neighbours, lower "
            "precision, avoid layout copies)")
