"""A small, typed, immutable graph IR.

A graph is its inputs, its parameters (constant tensors), its nodes in program order and its
outputs. Values carry a TensorType (shape, dtype) inferred when their node is built, never left
unknown. Program order is part of the IR because liveness and planning depend on it. Values have
no names: the printer numbers them, so printed graphs are stable golden text.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

_ids = itertools.count()


@dataclass(frozen=True)
class TensorType:
    """Shape and dtype of a tensor. Invariant: every dim is a non-negative int."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @staticmethod
    def of(shape: Sequence[int], dtype: Any = np.float32) -> TensorType:
        return TensorType(tuple(int(d) for d in shape), np.dtype(dtype))

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __str__(self) -> str:
        return f"{dtype_tag(self.dtype)}[{','.join(map(str, self.shape))}]"


def dtype_tag(dtype: np.dtype) -> str:
    kind = {"f": "f", "i": "i", "u": "u", "b": "b"}.get(dtype.kind, dtype.kind)
    return "bool" if dtype.kind == "b" else f"{kind}{dtype.itemsize * 8}"


@dataclass(frozen=True, eq=False)
class Value:
    """An SSA value. Identity is the object; `uid` only gives a stable hash and sort key."""

    type: TensorType
    uid: int = field(default_factory=lambda: next(_ids))

    @property
    def shape(self) -> tuple[int, ...]:
        return self.type.shape

    @property
    def dtype(self) -> np.dtype:
        return self.type.dtype

    @property
    def nbytes(self) -> int:
        return self.type.nbytes

    def __hash__(self) -> int:
        return hash(self.uid)


@dataclass(frozen=True, eq=False)
class Node:
    """One op application: `outputs = op(*inputs, **attrs)`. attrs are read-only."""

    op: str
    inputs: tuple[Value, ...]
    outputs: tuple[Value, ...]
    attrs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    name: str = ""

    @property
    def output(self) -> Value:
        (out,) = self.outputs
        return out


@dataclass(frozen=True, eq=False)
class Graph:
    """Inputs, parameters (value -> constant array), nodes in program order, outputs."""

    inputs: tuple[Value, ...]
    params: Mapping[Value, np.ndarray]
    nodes: tuple[Node, ...]
    outputs: tuple[Value, ...]
    name: str = "graph"

    def producers(self) -> dict[Value, Node]:
        return {v: n for n in self.nodes for v in n.outputs}

    def consumers(self) -> dict[Value, list[Node]]:
        users: dict[Value, list[Node]] = {}
        for n in self.nodes:
            for v in n.inputs:
                users.setdefault(v, []).append(n)
        return users

    @property
    def param_nbytes(self) -> int:
        return sum(int(a.nbytes) for a in self.params.values())

    def replace(self, **changes: Any) -> Graph:
        return dataclasses.replace(self, **changes)
