"""The one op table. Each op declares, in one OpDef: its shape rule, its cost rule (FLOPs, bytes
read and written), its numpy reference kernel, and whether its output may take an input's buffer.

Kernel contract: `kernel(inputs, outs, attrs, workspace=None) -> outputs`. With `outs=None` the
kernel allocates its results (eager execution) through ops.memory.empty, as it does any scratch it
needs when `workspace` is None. Given `outs` (arrays of the output types) and a workspace of at
least `workspace_nbytes` bytes (a uint8 array), it writes into them and allocates no tensor:
that is how the compiled executor runs the same kernel inside its arena.

Binding contract: `OpDef.bound(inputs, outs, attrs, workspace)` returns a call with no arguments
that computes `outs` from the inputs' current values, every view made ahead; the compiled
executor binds each node once, then runs the calls. An op with a `bind` hook makes its own (a
conv plans its path and carves its scratch once); elementwise ops are cut into cache-sized blocks
(ops/blocks.py); any other op binds its kernel with its arrays.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlxa.errors import ShapeError, UnsupportedOpError
from mlxa.ir.graph import TensorType

Attrs = Mapping[str, Any]
ShapeRule = Callable[[Sequence[TensorType], Attrs], tuple[TensorType, ...]]
Kernel = Callable[..., tuple[np.ndarray, ...]]
Step = Callable[[], object]
Binder = Callable[[Sequence[np.ndarray], Sequence[np.ndarray], "Attrs", "np.ndarray | None"], Step]


@dataclass(frozen=True)
class Cost:
    """FLOPs (2 per multiply-add) and bytes moved by one node: each input and output once."""

    flops: int
    read_nbytes: int
    written_nbytes: int

    @property
    def nbytes(self) -> int:
        return self.read_nbytes + self.written_nbytes

    @property
    def intensity_flops_per_byte(self) -> float:
        return self.flops / self.nbytes if self.nbytes else 0.0


CostRule = Callable[[Sequence[TensorType], Sequence[TensorType], Attrs], int]


@dataclass(frozen=True)
class OpDef:
    """An op's rules. `flops` returns FLOPs only; bytes are always inputs read + outputs written.
    `inplace`: the output may share the buffer of an input of the same type that dies at it.
    `ew`: the op is elementwise (each output element depends on the same element of each
    broadcast input) and this is its block kernel `ew(ins, out, tmps, attrs)`, which may use
    `n_tmp` scratch blocks of the output's shape (`tmps(attrs)` when that depends on attrs).
    `bind`: the op's own binding (see the module docstring)."""

    name: str
    shape: ShapeRule
    flops: CostRule
    kernel: Kernel
    inplace: bool = False
    ew: Callable[..., None] | None = None
    n_tmp: int = 0
    doc: str = ""
    inplace_inputs: Callable[[Attrs, int], tuple[int, ...]] | None = None
    workspace: Callable[[Sequence[TensorType], Sequence[TensorType], Attrs], int] | None = None
    # `view`: the output is the input's bytes in a new shape; compiled, it shares the input's
    # buffer and runs nothing (eager, the kernel returns a numpy view).
    view: bool = False
    bind: Binder | None = None
    n_tmp_rule: Callable[[Attrs], int] | None = None

    @property
    def elementwise(self) -> bool:
        return self.ew is not None

    def tmps(self, attrs: Attrs) -> int:
        """Scratch blocks the block kernel uses with these attributes."""
        return self.n_tmp_rule(attrs) if self.n_tmp_rule else self.n_tmp

    def bound(self, ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
              workspace: np.ndarray | None) -> Step:
        """The node's call with every array bound (the binding contract above)."""
        if self.bind is not None:
            return self.bind(ins, outs, attrs, workspace)
        if self.ew is not None:
            from mlxa.ops.blocks import bind_blocks

            return bind_blocks(((self, tuple(range(len(ins))), attrs),), ins, outs[0],
                               workspace)
        if self.workspace is not None:
            return functools.partial(self.kernel, ins, outs, attrs, workspace)
        return functools.partial(self.kernel, ins, outs, attrs)

    def workspace_nbytes(self, ins: Sequence[TensorType], outs: Sequence[TensorType],
                         attrs: Attrs) -> int:
        return int(self.workspace(ins, outs, attrs)) if self.workspace else 0

    def alias_candidates(self, attrs: Attrs, n_inputs: int) -> tuple[int, ...]:
        """Inputs whose buffer the output may take (the in-place pass also checks types)."""
        if not self.inplace:
            return ()
        if self.inplace_inputs is not None:
            return self.inplace_inputs(attrs, n_inputs)
        return tuple(range(n_inputs))

    def cost(self, ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> Cost:
        return Cost(int(self.flops(ins, outs, attrs)), sum(t.nbytes for t in ins),
                    sum(t.nbytes for t in outs))


OPS: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    if op.name in OPS:
        raise ValueError(f"op {op.name!r} registered twice")
    OPS[op.name] = op
    return op


def get_op(name: str) -> OpDef:
    try:
        return OPS[name]
    except KeyError:
        raise UnsupportedOpError(f"unsupported op {name!r}") from None


def infer_types(name: str, ins: Sequence[TensorType], attrs: Attrs,
                where: str) -> tuple[TensorType, ...]:
    """Apply an op's shape rule; a rejection becomes a ShapeError that quotes the node."""
    try:
        return get_op(name).shape(ins, attrs)
    except ShapeError as e:
        raise ShapeError(f"{where}: {e}") from None
    except (ValueError, IndexError, KeyError, TypeError) as e:
        raise ShapeError(f"{where}: {e}") from None


def same_dtype(ins: Sequence[TensorType]) -> np.dtype:
    dtypes = {t.dtype for t in ins}
    if len(dtypes) != 1:
        raise ShapeError("operands differ in dtype: " + ", ".join(str(t) for t in ins))
    return ins[0].dtype


def broadcast_shape(ins: Sequence[TensorType]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*(t.shape for t in ins)))
    except ValueError:
        raise ShapeError("shapes do not broadcast: " + ", ".join(str(t) for t in ins)) from None
