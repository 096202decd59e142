"""Which custom kernel binds each node of a compiled program, decided once at bind time.

For each node in program order, the enabled kernels of its op are asked (registry.enabled's order):
first with the epilogue on offer (the only user of the node's output, an elementwise relu, clip,
bias add or fused chain whose other inputs are constant parameters, when that output is not a
graph output and the epilogue writes in place over it), then without it. In place matters: the
kernel writes the epilogue's output at the node's own step, which is safe only in the buffer the
node's output already holds. The first kernel whose predicate holds binds the node; a node it
absorbed as its epilogue runs nothing. Complexity: O(nodes x kernels of an op).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from mlxa.ir.graph import Graph, Node, Value
from mlxa.kernels import library  # noqa: F401  (registers the kernels)
from mlxa.kernels.registry import CustomKernel, Epilogue, Site, enabled
from mlxa.kernels.trial import keep_faster
from mlxa.ops.bound import Step

EPILOGUE_OPS = ("relu", "clip", "add", "fused")  # each kernel's predicate says which it takes


@dataclass(frozen=True)
class Choice:
    """One node bound by a custom kernel, and the epilogue node it took (or None)."""

    step: int
    kernel: CustomKernel
    epilogue: Node | None = None
    epilogue_step: int | None = None

    def bind(self, node: Node, views: Mapping[Value, np.ndarray], workspace: np.ndarray | None,
             default: Callable[[], Step] | None = None) -> Step:
        """The kernel's call. A Numba kernel that took no epilogue is kept only where it ran
        faster than `default()` (the op table's call) in a bind-time trial (kernels/trial.py);
        the result's `variant` says which ran."""
        step = self._bind(node, views, workspace)
        if default is None or self.epilogue is not None or self.kernel.technique != "numba":
            return step
        return keep_faster(step, self.kernel.name, default())

    def _bind(self, node: Node, views: Mapping[Value, np.ndarray],
              workspace: np.ndarray | None) -> Step:
        ins = [views[v] for v in node.inputs]
        outs = [views[v] for v in node.outputs]
        attrs: dict[str, Any] = dict(node.attrs)
        if self.epilogue is not None:
            ins += [views[v] for v in self.epilogue.inputs if v is not node.output]
            outs = [views[self.epilogue.output]]
            attrs["epilogue"] = (self.epilogue.op, MappingProxyType(dict(self.epilogue.attrs)))
        return self.kernel.bind(ins, outs, MappingProxyType(attrs), workspace)


@dataclass(frozen=True)
class KernelPlan:
    """Invariant: no absorbed step is chosen, and each absorbed step is the epilogue of exactly
    one choice."""

    choices: Mapping[int, Choice] = field(default_factory=dict)

    @property
    def absorbed(self) -> frozenset[int]:
        return frozenset(c.epilogue_step for c in self.choices.values()
                         if c.epilogue_step is not None)

    def describe(self, graph: Graph, ran: Mapping[int, str] | None = None) -> list[str]:
        """One line per chosen node: `%3 conv -> depthwise_act (+ clip %4)`; with `ran` (step ->
        the variant its bind-time trial kept), `[ran numpy]` where that is not the kernel."""
        lines = []
        for step, c in sorted(self.choices.items()):
            tail = "" if c.epilogue is None else f" (+ {c.epilogue.op} %{c.epilogue_step})"
            variant = (ran or {}).get(step, c.kernel.name)
            tail += "" if variant == c.kernel.name else f" [ran {variant}]"
            lines.append(f"%{step} {graph.nodes[step].op} -> {c.kernel.name}{tail}")
        return lines


def plan_kernels(graph: Graph, selection: tuple[str, ...], skip: frozenset[int] = frozenset(),
                 shares: Callable[[Value, Value], bool] = lambda a, b: False) -> KernelPlan:
    """The kernel of each node `selection` (CompileOptions.kernels) enables; `skip`: steps that
    run nothing (view aliases); `shares(a, b)`: whether two values have one buffer (the
    program's buffer assignment)."""
    kernels = enabled(selection)
    if not kernels:
        return KernelPlan({})
    users = _users(graph)
    step_of = {id(n): i for i, n in enumerate(graph.nodes)}
    outputs = set(graph.outputs)
    choices: dict[int, Choice] = {}
    taken: set[int] = set()
    for step, node in enumerate(graph.nodes):
        if step in skip or step in taken:
            continue
        candidates = [k for k in kernels if k.op == node.op]
        if not candidates:
            continue
        epi = _offered(node, users, outputs, graph, step_of)
        if epi is not None and not shares(node.output, epi.output):
            epi = None
        choice = _choose(step, node, graph, candidates, epi, step_of)
        if choice is not None:
            choices[step] = choice
            if choice.epilogue_step is not None:
                taken.add(choice.epilogue_step)
    return KernelPlan(choices)


def _choose(step: int, node: Node, graph: Graph, candidates: list[CustomKernel],
            epi: Node | None, step_of: dict[int, int]) -> Choice | None:
    site = _site(node, graph, epi, step_of)
    for offer in ((site, epi), (site.without_epilogue(), None)) if epi else ((site, None),):
        for kernel in candidates:
            if kernel.applies(offer[0]):
                taken = offer[1]
                return Choice(step, kernel, taken,
                              None if taken is None else step_of[id(taken)])
    return None


def _site(node: Node, graph: Graph, epi: Node | None, step_of: dict[int, int]) -> Site:
    params = tuple(v in graph.params for v in node.inputs)
    offer = None
    if epi is not None:
        extra = tuple(v.type for v in epi.inputs if v is not node.output)
        offer = Epilogue(epi.op, epi.attrs, extra, step_of[id(epi)])
    return Site(node.op, tuple(v.type for v in node.inputs), tuple(v.type for v in node.outputs),
                node.attrs, params, offer)


def _users(graph: Graph) -> dict[Value, list[Node]]:
    users: dict[Value, list[Node]] = {}
    for node in graph.nodes:
        for v in node.inputs:
            users.setdefault(v, []).append(node)
    return users


def _offered(node: Node, users: dict[Value, list[Node]], outputs: set[Value], graph: Graph,
             step_of: dict[int, int]) -> Node | None:
    """The node's epilogue candidate: its output's one user, elementwise, reading that output
    once and otherwise only constant parameters."""
    if len(node.outputs) != 1 or node.output in outputs:
        return None
    after = users.get(node.output, [])
    if len(after) != 1 or after[0].op not in EPILOGUE_OPS:
        return None
    epi = after[0]
    others = [v for v in epi.inputs if v is not node.output]
    if len(others) != len(epi.inputs) - 1 or not all(v in graph.params for v in others):
        return None
    if step_of[id(epi)] <= step_of[id(node)]:
        return None
    return epi
