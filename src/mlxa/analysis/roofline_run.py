"""Measuring a model for its roofline: compile it once, bind the compiled and eager executors,
time every node of both taking turns (profile/node_times.py), with a matrix product (the compute
roof), an empty call (the call floor) and the copy of a one-element input (the load floor)
timed in the same rounds, and place each on the ceilings (analysis/roofline.py). The compiled
executor's input copy is timed as a row of its own."""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mlxa.analysis.reuse import Span, reuse_distances
from mlxa.analysis.roofline import (
    ExecutorRoofline,
    NodeWork,
    RooflineResult,
    eager_scratch_nbytes,
    node_work,
    roofline_rows,
)
from mlxa.compiler import CompileOptions, compile_program
from mlxa.ir.graph import Graph, Node, Value
from mlxa.machine.ceilings import Ceilings
from mlxa.profile.node_times import NodeTimes, measure_node_times
from mlxa.report.progress import Progress, no_progress
from mlxa.runtime.compiled import CompiledModel
from mlxa.runtime.eager import EagerModel
from mlxa.session import run_meta

SUM_TOLERANCE_PCT = 15.0
PEAK_N = 1024  # the matrix product timed in every round: 2 GFLOP, about 0.1 s on one core


class PeakProbe:
    """A float32 n x n matrix product that takes turns with the executors, so the compute roof
    is measured under the same load as the nodes (an executor to profile/node_times.py)."""

    def __init__(self, n: int = PEAK_N) -> None:
        rng = np.random.default_rng(0)
        self.a = rng.standard_normal((n, n), dtype=np.float32)
        self.b = rng.standard_normal((n, n), dtype=np.float32)
        self.c = np.empty((n, n), np.float32)
        self.flops = 2 * n ** 3

    def __call__(self, *inputs: np.ndarray) -> None:
        np.matmul(self.a, self.b, out=self.c)

    def time_nodes(self, *inputs: np.ndarray, clock: Callable[[], float]) -> list[float]:
        t0 = clock()
        self()
        return [clock() - t0]


class CallProbe:
    """The cheapest call a node can make here, timed in the same rounds as the nodes (an
    executor to profile/node_times.py): a compiled function that does nothing, called the way
    the kernels are (kernels/llvm_ir.py), or without llvmlite a numpy ufunc on one element;
    each round the fastest of five calls in a row."""

    def __init__(self) -> None:
        import importlib.util

        if importlib.util.find_spec("llvmlite") is not None:
            from mlxa.kernels.llvm_ir import empty_call

            self.call: Callable[[], Any] = empty_call()
            self.what = "an empty compiled call"
        else:
            one = np.zeros(1, np.float32)
            self.call = functools.partial(np.add, one, one, out=one)
            self.what = "a numpy ufunc on one element"

    def __call__(self, *inputs: np.ndarray) -> None:
        self.call()

    def time_nodes(self, *inputs: np.ndarray, clock: Callable[[], float]) -> list[float]:
        """The fastest of a few calls in a row: a floor, not a typical call."""
        best = float("inf")
        for _ in range(5):
            t0 = clock()
            self.call()
            best = min(best, clock() - t0)
        return [best]


class LoadProbe:
    """The cheapest input copy the compiled executor makes, timed in the same rounds as the
    nodes (an executor to profile/node_times.py): the copy of a one-element float32 input into
    the arena of a one-node model, by the same code (CompiledModel.time_nodes with `load`);
    each round the fastest of five in a row."""

    what = "the compiled executor's copy of a one-element input"

    def __init__(self) -> None:
        from mlxa.ir.builder import GraphBuilder

        g = GraphBuilder("load_probe")
        self.model = CompiledModel(compile_program(g.build(g.op("relu", g.input((1,)))),
                                                   CompileOptions(kernels=())))
        self.one = np.zeros(1, np.float32)

    def __call__(self, *inputs: np.ndarray) -> None:
        self.model(self.one)

    def time_nodes(self, *inputs: np.ndarray, clock: Callable[[], float]) -> list[float]:
        """The fastest of a few copies in a row: a floor, not a typical copy."""
        return [min(self.model.time_nodes(self.one, clock=clock, load=True)[0]
                    for _ in range(5))]


class LoadTimed:
    """The compiled executor with its input copy timed as a call of its own, first."""

    def __init__(self, model: CompiledModel) -> None:
        self.model = model

    def __call__(self, *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return self.model(*inputs)

    def time_nodes(self, *inputs: np.ndarray, clock: Callable[[], float]) -> list[float]:
        """A graph without inputs copies none and has no such row (compiled_works)."""
        return self.model.time_nodes(*inputs, clock=clock, load=bool(inputs))


def compiled_works(model: CompiledModel,
                   inputs: tuple[np.ndarray, ...] = ()) -> list[NodeWork]:
    """One per call; a call whose custom kernel took its successor as epilogue (kernels/plan.py)
    is labelled `conv+clip` and counts the epilogue's FLOPs (its bytes stay in the output). A
    call a Numba kernel runs counts the scratch its loops carve, not the op table's. With the
    caller's `inputs`, the first work is their copy into the arena (index -1): each byte read
    once, from as far as a round of the program's memory (they are read once per inference),
    and written once."""
    program = model.program
    works = []
    for c in model.calls:
        scratch = program.scratch[c.step].nbytes if c.step in program.scratch else 0
        work = node_work(c.step, c.node, model.kernel_scratch.get(c.step, scratch))
        choice = model.kernel_plan.choices.get(c.step)
        if choice is not None and choice.epilogue is not None:
            extra = node_work(c.step, choice.epilogue, 0)
            work = dataclasses.replace(work, op=f"{work.op}+{extra.op}",
                                       flops=work.flops + extra.flops)
        works.append(work)
    spans = _compiled_spans(model)
    spans[0] += [_span(a, True) for a in inputs]
    dist = reuse_distances(spans)
    works = _with_reads(works, [c.node for c in model.calls], spans[1:], dist[1:])
    if not inputs:
        return works
    values = model.program.graph.inputs
    nbytes = sum(v.nbytes for v in values)
    copy = NodeWork(-1, "input", "input copy", values[0].shape, 0, 2 * nbytes, 0, False,
                    tuple((s.nbytes, d) for s, d in zip(spans[0], dist[0]) if s.read))
    return [copy, *works]


def eager_works(model: EagerModel) -> list[NodeWork]:
    graph = model.graph
    works = [node_work(i, n, eager_scratch_nbytes(n)) for i, n in enumerate(graph.nodes)]
    spans = _eager_spans(model)
    return _with_reads(works, list(graph.nodes), spans[1:], reuse_distances(spans)[1:])


def _with_reads(works: list[NodeWork], nodes: list[Node], spans: list[list[Span]],
                dist: list[list[int]]) -> list[NodeWork]:
    """Each work with its inputs' reuse distances: per node the spans of its inputs (in
    order), its outputs and its scratch, and their distances (reuse.py)."""
    return [w if w.view else dataclasses.replace(
                w, reads=tuple((s.nbytes, d) for s, d in list(zip(sp, ds))[:len(n.inputs)]))
            for w, n, sp, ds in zip(works, nodes, spans, dist)]


def _span(a: np.ndarray, read: bool) -> Span:
    return Span(int(a.__array_interface__["data"][0]), int(a.nbytes), read)


def _compiled_spans(model: CompiledModel) -> list[list[Span]]:
    """The compiled program's memory as bound: arena views, weights, the op table's scratch
    in the arena, a Numba kernel's scratch at the start of the workspace."""
    program, views = model.program, model.views
    offsets = program.offsets
    arena = int(model.arena.__array_interface__["data"][0])
    workspace = int(model.workspace.__array_interface__["data"][0])
    spans = [[_span(views[v], False) for v in program.graph.inputs]]
    for c in model.calls:
        sp = [_span(views[v], True) for v in c.node.inputs]
        sp += [_span(views[v], False) for v in c.node.outputs]
        if c.step in model.kernel_scratch:
            sp.append(Span(workspace, model.kernel_scratch[c.step], False))
        elif c.step in program.scratch and program.scratch[c.step].id in offsets:
            b = program.scratch[c.step]
            sp.append(Span(arena + offsets[b.id], b.nbytes, False))
        spans.append(sp)
    return spans


def _eager_spans(model: EagerModel) -> list[list[Span]]:
    """Eager allocates every value afresh: each gets memory of its own (placed past every real
    address, page-aligned with a page between), the weights their real arrays; scratch is
    allocated and freed inside the call."""
    graph = model.graph
    address = {v: int(a.__array_interface__["data"][0]) for v, a in graph.params.items()}
    top = max((address[v] + a.nbytes for v, a in graph.params.items()), default=0)
    for v in [*graph.inputs, *(v for n in graph.nodes for v in (*n.inputs, *n.outputs))]:
        if v not in address:
            address[v] = top
            top += -(-v.nbytes // 4096) * 4096 + 4096

    def span(v: Value, read: bool) -> Span:
        return Span(address[v], v.nbytes, read)

    spans = [[span(v, False) for v in graph.inputs]]
    for n in graph.nodes:
        spans.append([span(v, True) for v in n.inputs] + [span(v, False) for v in n.outputs])
    return spans


def measure_roofline(graph: Graph, inputs: tuple[np.ndarray, ...], ceilings: Ceilings,
                     info: dict[str, Any], ceilings_note: str = "", budget_s: float = 20.0,
                     eager: bool = True, probe: PeakProbe | None = None,
                     clock: Callable[[], float] = time.perf_counter,
                     progress: Progress = no_progress,
                     options: CompileOptions | None = None) -> RooflineResult:
    """`probe`: the product timed in the same rounds (default PeakProbe()); its median rate is
    the compute roof of the rows. `progress` hears of the timing rounds (profile/node_times.py).
    `options`: the compilation (default CompileOptions(): every custom kernel on offer)."""
    with np.errstate(all="ignore"):
        compiled = CompiledModel(compile_program(graph, options or CompileOptions()))
        executors: dict[str, Any] = {"compiled": LoadTimed(compiled)}
        works = {"compiled": compiled_works(compiled, inputs)}
        if eager:
            executors["eager"] = EagerModel(graph)
            works["eager"] = eager_works(executors["eager"])
        probe = probe or PeakProbe()
        floor, load = CallProbe(), LoadProbe()
        times = measure_node_times({**executors, "peak": probe, "call": floor, "load": load},
                                   inputs, budget_s, clock=clock, progress=progress)
    peak = probe.flops / times["peak"].end_to_end.median_s
    # medians over the rounds, the timer's overhead subtracted
    floors = times["call"].node_spread(0).median_s, times["load"].node_spread(0).median_s
    parts = tuple(_executor(key, works[key], times[key], ceilings, peak, *floors)
                  for key in executors)
    meta = run_meta()
    return RooflineResult(
        model=str(info.get("name", graph.name)), description=str(info.get("description", "")),
        inputs=tuple(str(v.type) for v in graph.inputs),
        ceilings_fingerprint=ceilings.fingerprint, ceilings_note=ceilings_note,
        peak_flops_per_s=peak, ceilings_peak_flops_per_s=ceilings.peak_flops_per_s,
        int8_ops_per_s=ceilings.int8.ops_per_s if ceilings.int8 else None,
        call_floor_s=floors[0], load_floor_s=floors[1], executors=parts,
        meta={"cpu": meta.cpu, "cpu_count": meta.cpu_count, "date": meta.date,
              "load_average": meta.load_average, "command": meta.command,
              "blas": meta.blas, "call_floor": floor.what,
              "load_floor": load.what},
        warnings=_warnings(parts, meta.load_average, meta.cpu_count) + ceilings.warnings)


def _executor(key: str, works: list[NodeWork], times: NodeTimes, ceilings: Ceilings,
              peak: float, call_floor_s: float, load_floor_s: float) -> ExecutorRoofline:
    spreads = [times.node_spread(k) for k in range(len(works))]
    return ExecutorRoofline(key, roofline_rows(works, spreads, ceilings, peak, call_floor_s,
                                               load_floor_s),
                            times.end_to_end,
                            times.round_sums, times.timer_overhead_s * 1e3, times.rounds)


def _warnings(parts: tuple[ExecutorRoofline, ...], load: float | None,
              cpus: int) -> tuple[str, ...]:
    warnings = []
    if load is not None and load > 0.75 * cpus:
        warnings.append(f"the machine is busy (load average {load:.1f} on {cpus} CPUs): "
                        "times may be inflated")
    for p in parts:
        if p.end_to_end.noisy:
            warnings.append(f"{p.executor} inferences are noisy: p90 is "
                            f"{p.end_to_end.spread_ratio:.1f}x p10 over {p.rounds} rounds")
        if abs(p.sum_vs_end_to_end_pct) > SUM_TOLERANCE_PCT:
            warnings.append(f"{p.executor}: the sum of node times is "
                            f"{p.sum_vs_end_to_end_pct:+.0f}% off the end-to-end time")
    return tuple(warnings)
