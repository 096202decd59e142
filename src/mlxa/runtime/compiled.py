"""The compiled executor: binds a CompiledProgram to memory once, then runs it.

Binding allocates one arena of the planned size (plus input buffers, output buffers and the
blocked kernels' workspace), makes every intermediate a view at its planned offset, and binds each
node through its op's binding hook (ops/table.py) to those views. An inference copies the inputs
in and runs the calls: it allocates no tensor memory. The arrays returned are the executor's
output buffers, overwritten by the next call: copy them to keep them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlxa.compiler import CompiledProgram, CompileOptions, compile_program
from mlxa.ir.graph import Graph, Node, Value
from mlxa.ops import get_op, memory
from mlxa.runtime.inputs import check_inputs


@dataclass(frozen=True)
class Call:
    """One bound kernel call of the compiled program, with the node (and step) it came from."""

    step: int
    node: Node
    run: Callable[[], Any]


class CompiledModel:
    def __init__(self, program: CompiledProgram) -> None:
        self.program = program
        align = program.options.alignment
        self.arena = _aligned_bytes(program.plan.arena_nbytes, align)
        self.workspace = _aligned_bytes(program.workspace_nbytes, align)
        self.views = self._bind_views()
        graph = program.graph
        self._inputs = [self.views[v] for v in graph.inputs]
        # (view, shape, dtype) per input, for _load's checks
        self._loads = tuple((a, a.shape, a.dtype) for a in self._inputs)
        self._outputs = tuple(self.views[v] for v in graph.outputs)
        self.kernel_plan = _kernel_plan(program)
        # step -> scratch bytes mlxa's own loops use (a Numba or LLVM kernel, whichever its
        # trial kept), where they run (the op table's scratch, program.scratch, is what every
        # other call uses)
        self.kernel_scratch: dict[int, int] = {}
        skip = program.aliases | self.kernel_plan.absorbed
        from mlxa.kernels.registry import binding

        with binding(program.options.kernels):  # kernels' trials stay within the selection
            self.calls = tuple(Call(i, n, self._bind(i, n)) for i, n in enumerate(graph.nodes)
                               if i not in skip)
        self._runs = tuple(c.run for c in self.calls)

    def kernel_lines(self) -> tuple[str, ...]:
        """One line per node a custom kernel bound (kernels/plan.py KernelPlan.describe), with
        the variant its bind-time trial kept where that is not the kernel."""
        ran = {c.step: c.run.variant for c in self.calls if hasattr(c.run, "variant")}
        return tuple(self.kernel_plan.describe(self.program.graph, ran))

    def __call__(self, *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        self._load(inputs)
        for run in self._runs:
            run()
        return self._outputs

    def time_nodes(self, *inputs: np.ndarray, clock: Callable[[], float] = time.perf_counter,
                   load: bool = False) -> list[float]:
        """One inference, each call timed: seconds per call, in the order of `calls`; with
        `load`, the copy of the inputs into the arena first, timed as one more."""
        times = []
        t0 = clock()
        self._load(inputs)
        if load:
            times.append(clock() - t0)
        for run in self._runs:
            t0 = clock()
            run()
            times.append(clock() - t0)
        return times

    def _load(self, inputs: tuple[np.ndarray, ...]) -> None:
        """Copies the inputs into the arena; on a mismatch check_inputs names it. The checks are
        the arena views' own shape and dtype, the dtype by identity (numpy's dtypes of a kind
        are one object; one equal but not the same passes check_inputs). A lone input, most
        models', skips the loop: 0.33 us for digits_cnn's 256 bytes, against 0.62 through the
        loop with the dtypes compared by equality (0.17 of it the copy)."""
        if len(inputs) == 1 and len(self._loads) == 1:
            dst, shape, dtype = self._loads[0]
            src = inputs[0]
            if getattr(src, "shape", None) == shape and getattr(src, "dtype", None) is dtype:
                dst[...] = src
                return
        if len(inputs) != len(self._loads):
            check_inputs(self.program.graph, inputs)
        for (dst, shape, dtype), src in zip(self._loads, inputs):
            if getattr(src, "shape", None) != shape or getattr(src, "dtype", None) is not dtype:
                check_inputs(self.program.graph, inputs)
            dst[...] = src

    def _bind_views(self) -> dict[Value, np.ndarray]:
        program = self.program
        views: dict[Value, np.ndarray] = dict(program.graph.params)
        for v in program.graph.inputs:
            views[v] = memory.empty(v.shape, v.dtype)
        offsets = program.offsets
        owned: dict[int, np.ndarray] = {}
        for v, b in program.assignment.buffer_of.items():
            if b in offsets:
                raw = self.arena[offsets[b]:offsets[b] + v.nbytes]
                views[v] = raw.view(v.dtype).reshape(v.shape)
            else:  # a graph output's buffer, shared by the values aliased into it
                if b not in owned:
                    owned[b] = memory.empty((v.nbytes,), np.uint8)
                views[v] = owned[b].view(v.dtype).reshape(v.shape)
        return views

    def _bind(self, step: int, node: Node) -> Callable[[], Any]:
        op = get_op(node.op)
        ins = [self.views[v] for v in node.inputs]
        outs = [self.views[v] for v in node.outputs]
        if op.ew is not None:
            workspace: np.ndarray | None = self.workspace
        elif step in self.program.scratch:
            scratch = self.program.scratch[step]
            offset = self.program.offsets[scratch.id]
            workspace = self.arena[offset:offset + scratch.nbytes]
        else:
            workspace = None
        choice = self.kernel_plan.choices.get(step)
        if choice is not None:  # a custom kernel (mlxa.kernels), chosen once per node
            from mlxa.kernels.generated import recording

            with recording() as carved:
                run = choice.bind(node, self.views, workspace,
                                  lambda: op.bound(ins, outs, node.attrs, workspace))
            from mlxa.kernels.registry import KERNELS

            ran = KERNELS.get(getattr(run, "variant", choice.kernel.name))
            if ran is not None and ran.technique in ("numba", "llvm"):  # mlxa's own loops
                self.kernel_scratch[step] = sum(carved)
            return run
        return op.bound(ins, outs, node.attrs, workspace)


def _kernel_plan(program: CompiledProgram) -> Any:
    """Which custom kernel binds each node (CompileOptions.kernels; every one by default)."""
    from mlxa.kernels.plan import KernelPlan, plan_kernels

    if not program.options.kernels:
        return KernelPlan({})
    buffer_of = program.assignment.buffer_of
    return plan_kernels(program.graph, program.options.kernels, program.aliases,
                        lambda a, b: buffer_of.get(a, -1) == buffer_of.get(b, -2))


def compile_model(graph: Graph, options: CompileOptions | None = None) -> CompiledModel:
    """Compile `graph` and bind the program: the two steps in one call."""
    return CompiledModel(compile_program(graph, options))


def _aligned_bytes(nbytes: int, alignment: int) -> np.ndarray:
    """A uint8 buffer of `nbytes` whose first byte is `alignment`-aligned."""
    raw = memory.empty((nbytes + alignment,), np.uint8)
    shift = -raw.ctypes.data % alignment
    return raw[shift:shift + nbytes]
