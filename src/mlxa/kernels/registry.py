"""The custom-kernel registry: another way to run one op where a predicate on the node holds.

A custom kernel names its op, the technique it stands for (`epilogue`: a conv or matrix product
that applies the elementwise node after it while its output is in cache; `prepack`: weights
packed once for a library's matrix product; `numba`: a loop compiled by Numba; `llvm`: mlxa's
own microkernel, LLVM IR compiled for this CPU over weights it packed once), a predicate on
the node (`applies(site)`: types, attributes, which inputs are constant parameters, and the
epilogue offered, if any) and a bind function with the op table's binding contract
(`bind(ins, outs, attrs, workspace) -> Step`, ops/table.py). The compiled executor asks
`kernels.plan.plan_kernels` once per program which kernel binds each node; nothing is chosen
per call. A kernel whose library is not installed is never chosen, so every caller falls back
to the op table's numpy kernels.

    @register_kernel("conv", name="conv_act", technique="epilogue", applies=has_activation)
    def bind_conv_act(ins, outs, attrs, workspace): ...
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlxa.ir.graph import TensorType
from mlxa.kernels.local import ThreadStack
from mlxa.ops.bound import Step

Attrs = Mapping[str, Any]
Binder = Callable[[Sequence[np.ndarray], Sequence[np.ndarray], Attrs, "np.ndarray | None"], Step]
# Tried in this order (then in registration order): mlxa's own vector kernels first (their
# predicates leave the narrow cases a Numba loop is written for to it), then the Numba loops, a
# library's general one next, the numpy epilogue (which applies wherever a conv has one) last.
TECHNIQUES = ("llvm", "numba", "prepack", "epilogue")


@dataclass(frozen=True)
class Epilogue:
    """An elementwise node offered to the kernel of the node before it: its op and attributes,
    the types of its other inputs (constant parameters: a bias), and its step in the program.
    A kernel that takes it gets those inputs appended to `ins`, `attrs["epilogue"]` = (op,
    attrs), and the epilogue's output as `outs[0]`."""

    op: str
    attrs: Attrs
    extra: tuple[TensorType, ...]
    step: int


@dataclass(frozen=True)
class Site:
    """What a predicate sees of one node: op, input and output types, attributes, which inputs
    are constant parameters, and the epilogue offered (None when none may be absorbed)."""

    op: str
    ins: tuple[TensorType, ...]
    outs: tuple[TensorType, ...]
    attrs: Attrs
    params: tuple[bool, ...]
    epilogue: Epilogue | None = None

    def without_epilogue(self) -> Site:
        return Site(self.op, self.ins, self.outs, self.attrs, self.params, None)


@dataclass(frozen=True)
class CustomKernel:
    """One registered kernel. Invariant: `bind` computes what the op (and, when it took one,
    its epilogue) computes, within the correctness oracle's bound, wherever `applies` holds."""

    name: str
    op: str
    technique: str
    applies: Callable[[Site], bool]
    bind: Binder
    requires: tuple[str, ...] = ()
    doc: str = ""

    @property
    def available(self) -> bool:
        """Every module it needs can be imported (checked without importing it)."""
        return all(importlib.util.find_spec(m) is not None for m in self.requires)


KERNELS: dict[str, CustomKernel] = {}


def register_kernel(op: str, *, name: str, technique: str, applies: Callable[[Site], bool],
                    requires: Sequence[str] = (), doc: str = "") -> Callable[[Binder], Binder]:
    """Decorator: register `bind` as the custom kernel `name` of `op`. Kernels of one op are
    tried by technique (TECHNIQUES' order), then in registration order."""
    if technique not in TECHNIQUES:
        raise ValueError(f"technique {technique!r} is not one of {', '.join(TECHNIQUES)}")

    def decorate(bind: Binder) -> Binder:
        if name in KERNELS:
            raise ValueError(f"custom kernel {name!r} registered twice")
        KERNELS[name] = CustomKernel(name, op, technique, applies, bind, tuple(requires),
                                     doc or (bind.__doc__ or "").strip().split("\n")[0])
        return bind
    return decorate


def enabled(selection: Iterable[str]) -> tuple[CustomKernel, ...]:
    """The installed kernels a CompileOptions.kernels selection names: a kernel's name, a
    technique, or "all"."""
    chosen = set(selection)
    kernels = [k for k in KERNELS.values() if k.available
               and ("all" in chosen or k.name in chosen or k.technique in chosen)]
    return tuple(sorted(kernels, key=lambda k: TECHNIQUES.index(k.technique)))


# the kernels a model this thread is binding selected
_BINDING: ThreadStack[frozenset[str]] = ThreadStack()


@contextmanager
def binding(selection: Iterable[str]) -> Iterator[None]:
    """Within: `in_use` answers for this selection (a compiled model binding its nodes)."""
    with _BINDING.pushed(frozenset(k.name for k in enabled(selection))):
        yield


def in_use(name: str) -> bool:
    """Whether kernel `name` is installed and, while a model binds, selected: what a kernel
    may bind as the default its trial runs against (an ablation without a technique keeps
    its kernels out of the others' trials too)."""
    kernel = KERNELS.get(name)
    selected = _BINDING.top()
    return kernel is not None and kernel.available and (selected is None or name in selected)


def bind_in_use(name: str, ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
                workspace: np.ndarray | None) -> tuple[Step, str] | None:
    """Kernel `name`'s call of a node and the name of what it runs (what its own trial kept,
    where it has one), or None where `name` is not in use: a kernel's default to try against."""
    if not in_use(name):
        return None
    bound = KERNELS[name].bind(ins, outs, attrs, workspace)
    return bound, getattr(bound, "variant", name)


def selection_without(technique: str) -> tuple[str, ...]:
    """Every registered kernel's name except those of one technique (an ablation's row)."""
    return tuple(k.name for k in KERNELS.values() if k.technique != technique)


def parse_selection(text: str) -> tuple[str, ...]:
    """A --kernels value as a CompileOptions.kernels selection: "all", "none", or a comma list
    of kernel names and techniques. Raises UserInputError naming an unknown entry."""
    from mlxa.errors import UserInputError

    words = tuple(w.strip() for w in text.split(",") if w.strip())
    if not words:
        raise UserInputError("--kernels: empty (all, none, or names)")
    if words == ("none",):
        return ()
    if "none" in words:
        raise UserInputError("--kernels: none stands alone (it binds no custom kernel)")
    unknown = [w for w in words if w not in {"all", *TECHNIQUES, *KERNELS}]
    if unknown:
        raise UserInputError(f"--kernels: unknown kernel or technique {unknown[0]!r} (choose "
                             f"all, none, a technique ({', '.join(TECHNIQUES)}) or a kernel "
                             "that `mlxa kernels --list` names)")
    return words
