"""The compiled executor: the graph is compiled once into a static plan and a list of calls.

Compilation: fold batch_norm into the conv before it (when asked), fuse elementwise chains,
reorder the nodes for memory (when asked), assign buffers (in-place), plan offsets, allocate one
arena (plus output buffers, input buffers and one kernel workspace), make every intermediate a
view at its planned offset, and bind each node's kernel to its views. An inference then copies
the inputs in and runs the calls: after the first call it allocates no tensor memory. The arrays
returned are the executor's output buffers, overwritten by the next call: copy them to keep them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlxa.analysis.buffers import BufferAssignment, assign_buffers
from mlxa.ir.graph import Graph, Node, Value
from mlxa.ops import get_op, memory
from mlxa.ops.blocks import block_elements_of, iter_blocks
from mlxa.ops.fused import compiled_attrs
from mlxa.passes.fold_batch_norm import fold_batch_norm
from mlxa.passes.fuse_elementwise import fuse_elementwise
from mlxa.passes.reorder import reorder_for_memory
from mlxa.planners import Buffer, Plan, get_planner, lower_bound, validate
from mlxa.runtime.inputs import check_inputs

ALIGNMENT = 64


@dataclass(frozen=True)
class CompileOptions:
    planner: str = "best"
    alignment: int = ALIGNMENT
    fuse: bool = True
    inplace: bool = True
    # Folding reorders float32 rounding ((w*s)x vs s(wx)): about 2e-6 absolute on ResNet-50's
    # outputs, inside verify's float32 tolerance.
    fold_bn: bool = True
    # Off by default: it pays where independent branches differ in size (long-sequence attention
    # saves one projection, 1 of 11 MiB at seq 512); on the zoo's defaults the bound stays.
    reorder: bool = False


@dataclass(frozen=True)
class Call:
    """One bound kernel call of the compiled program, with the node it came from."""

    node: Node
    run: Callable[[], Any]


class CompiledModel:
    def __init__(self, graph: Graph, options: CompileOptions = CompileOptions()) -> None:
        self.source = graph
        self.options = options
        folded = fold_batch_norm(graph) if options.fold_bn else graph
        fused = fuse_elementwise(folded) if options.fuse else folded
        self.graph = (reorder_for_memory(fused, alignment=options.alignment,
                                         inplace=options.inplace) if options.reorder else fused)
        self.assignment: BufferAssignment = assign_buffers(self.graph, inplace=options.inplace)
        # An op's scratch (a conv's column buffer) is planned like a tensor alive at its step.
        self.scratch_of = _op_scratch(self.graph, first_id=len(self.assignment.buffers))
        self.planned_buffers = self.assignment.arena_buffers + tuple(self.scratch_of.values())
        self.plan: Plan = get_planner(options.planner)(self.planned_buffers, options.alignment)
        validate(self.planned_buffers, self.plan, options.alignment)
        self.lower_bound_nbytes = lower_bound(self.planned_buffers, options.alignment)
        self.arena = _aligned_bytes(self.plan.arena_nbytes, options.alignment)
        self.offsets = {b.id: off for b, off in zip(self.planned_buffers, self.plan.offsets)}
        # The fused elementwise kernels share one small fixed scratch outside the arena.
        self.workspace_nbytes = max((_block_scratch_nbytes(n) for n in self.graph.nodes), default=0)
        self.workspace = _aligned_bytes(self.workspace_nbytes, options.alignment)
        self.views = self._bind_views()
        self._inputs = [self.views[v] for v in self.graph.inputs]
        self._outputs = tuple(self.views[v] for v in self.graph.outputs)
        self.calls = tuple(Call(n, self._bind(i, n)) for i, n in enumerate(self.graph.nodes)
                           if not self._is_alias(n))
        self._runs = tuple(c.run for c in self.calls)

    def __call__(self, *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        check_inputs(self.graph, inputs)
        for dst, src in zip(self._inputs, inputs):
            np.copyto(dst, src)
        for run in self._runs:
            run()
        return self._outputs

    def placement(self) -> dict[Value, str]:
        """Where each value lives, for the printer: '@arena+OFFSET' or '@out'."""
        return {v: f"@arena+{self.offsets[b]}" if b in self.offsets else "@out"
                for v, b in self.assignment.buffer_of.items()}

    def buffer_kinds(self) -> list[str]:
        """One kind per planned buffer: the op of its first value (an in-place chain or a view
        keeps the buffer its first value's op allocated), or "OP scratch" for an op's scratch."""
        producer = {v: node.op for node in self.graph.nodes for v in node.outputs}
        kinds = {b.id: producer[values[0]]
                 for b, values in zip(self.assignment.buffers, self.assignment.values)}
        for step, scratch in self.scratch_of.items():
            kinds[scratch.id] = f"{self.graph.nodes[step].op} scratch"
        return [kinds[b.id] for b in self.planned_buffers]

    def _bind_views(self) -> dict[Value, np.ndarray]:
        views: dict[Value, np.ndarray] = dict(self.graph.params)
        for v in self.graph.inputs:
            views[v] = memory.empty(v.shape, v.dtype)
        owned: dict[int, np.ndarray] = {}
        for v, b in self.assignment.buffer_of.items():
            if b in self.offsets:
                raw = self.arena[self.offsets[b]:self.offsets[b] + v.nbytes]
                views[v] = raw.view(v.dtype).reshape(v.shape)
            else:  # a graph output's buffer, shared by the values aliased into it
                if b not in owned:
                    owned[b] = memory.empty((v.nbytes,), np.uint8)
                views[v] = owned[b].view(v.dtype).reshape(v.shape)
        return views

    def _is_alias(self, node: Node) -> bool:
        """A view op whose output shares its input's buffer: nothing to run."""
        buffer_of = self.assignment.buffer_of
        return (get_op(node.op).view and node.inputs[0] in buffer_of
                and buffer_of[node.inputs[0]] == buffer_of[node.output])

    def _bind(self, step: int, node: Node) -> Callable[[], Any]:
        op = get_op(node.op)
        ins = [self.views[v] for v in node.inputs]
        outs = [self.views[v] for v in node.outputs]
        if op.ew is not None:
            return _bind_elementwise(node, ins, outs[0], self.workspace)
        if step not in self.scratch_of:
            return functools.partial(op.kernel, ins, outs, node.attrs)
        scratch = self.scratch_of[step]
        offset = self.offsets[scratch.id]
        return functools.partial(op.kernel, ins, outs, node.attrs,
                                 self.arena[offset:offset + scratch.nbytes])


def _bind_elementwise(node: Node, ins: list[np.ndarray], out: np.ndarray,
                      workspace: np.ndarray) -> Callable[[], None]:
    """Every block of every step bound to its views ahead of time: (kernel, args, out, tmps)."""
    op = get_op(node.op)
    attrs: Mapping[str, Any] = node.attrs
    if node.op == "fused":
        steps = compiled_attrs(attrs)["_compiled"]
    else:
        steps = ((op, tuple(range(len(ins))), attrs),)
    n_tmp = max(s[0].n_tmp for s in steps)
    scratch = workspace[:n_tmp * block_elements_of(out.shape) * out.itemsize].view(out.dtype)
    calls = []
    for args, o, tmps in iter_blocks(ins, out, n_tmp, scratch if n_tmp else None):
        for step_op, operands, step_attrs in steps:
            step_args = tuple(o if k < 0 else args[k] for k in operands)
            calls.append((step_op.ew, step_args, o, tmps, step_attrs))

    def run() -> None:
        for ew, a, o, t, at in calls:
            ew(a, o, t, at)

    return run


def _op_scratch(graph: Graph, first_id: int) -> dict[int, Buffer]:
    """step -> the scratch buffer of the (non-elementwise) op at that step, alive at it alone."""
    scratch: dict[int, Buffer] = {}
    for step, node in enumerate(graph.nodes):
        op = get_op(node.op)
        nbytes = op.workspace_nbytes([v.type for v in node.inputs],
                                     [v.type for v in node.outputs], node.attrs)
        if op.ew is None and nbytes:
            scratch[step] = Buffer(first_id + len(scratch), step, step + 1, nbytes)
    return scratch


def _block_scratch_nbytes(node: Node) -> int:
    op = get_op(node.op)
    if op.ew is None:
        return 0
    out = node.outputs[0]
    return op.n_tmp * block_elements_of(out.shape) * out.dtype.itemsize


def _aligned_bytes(nbytes: int, alignment: int) -> np.ndarray:
    """A uint8 buffer of `nbytes` whose first byte is `alignment`-aligned."""
    raw = memory.empty((nbytes + alignment,), np.uint8)
    shift = -raw.ctypes.data % alignment
    return raw[shift:shift + nbytes]
