"""The fused elementwise op: a chain of elementwise ops run block by block in one pass.

attrs["steps"] is a tuple of (op name, operands, attrs items); an operand k >= 0 is the group's
external input k, and -1 is the previous step's result. The chain's result is the node's output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from mlxa.ir.graph import TensorType
from mlxa.ops.blocks import bind_blocks
from mlxa.ops.elementwise import elementwise_kernel
from mlxa.ops.table import Attrs, OpDef, get_op, register

Step = tuple[str, tuple[int, ...], tuple[tuple[str, Any], ...]]


def make_step(op: str, operands: Sequence[int], attrs: Attrs) -> Step:
    return (op, tuple(operands), tuple(sorted(attrs.items())))


def _steps(attrs: Attrs) -> list[tuple[Any, tuple[int, ...], Attrs]]:
    return [(get_op(op), operands, MappingProxyType(dict(items)))
            for op, operands, items in attrs["steps"]]


def _rule(ins: Sequence[TensorType], attrs: Attrs) -> tuple[TensorType, ...]:
    prev: TensorType | None = None
    for op, operands, step_attrs in _steps(attrs):
        args = [prev if k < 0 else ins[k] for k in operands]
        if any(a is None for a in args):
            raise ValueError("the first step of a fused group reads a previous result")
        (prev,) = op.shape(args, step_attrs)  # type: ignore[arg-type]
    if prev is None:
        raise ValueError("a fused group needs at least one step")
    return (prev,)


def _flops(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    total, prev = 0, None
    for op, operands, step_attrs in _steps(attrs):
        args = [prev if k < 0 else ins[k] for k in operands]
        (prev,) = op.shape(args, step_attrs)
        total += op.flops(args, (prev,), step_attrs)
    return total


def _fused_ew(args: Sequence[np.ndarray], o: np.ndarray, tmps: Sequence[np.ndarray],
              attrs: Attrs) -> None:
    for op, operands, step_attrs in attrs["_compiled"]:
        op.ew([o if k < 0 else args[k] for k in operands], o, tmps, step_attrs)


def compiled_attrs(attrs: Attrs) -> Attrs:
    """attrs with the step list resolved to op definitions once, not on every block."""
    return MappingProxyType({**attrs, "_compiled": tuple(_steps(attrs))})


def n_tmp(attrs: Attrs) -> int:
    """Scratch blocks the group needs: the most any of its steps uses (a bias + ReLU, none)."""
    return max(op.tmps(step_attrs) for op, _, step_attrs in _steps(attrs))


def _bind(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
          workspace: np.ndarray | None) -> Callable[[], None]:
    return bind_blocks(compiled_attrs(attrs)["_compiled"], ins, outs[0], workspace)


def _inplace_inputs(attrs: Attrs, n_inputs: int) -> tuple[int, ...]:
    """Only inputs that no step after the first reads: later steps would see overwritten data."""
    steps = attrs["steps"]
    later = {k for _, operands, _ in steps[1:] for k in operands}
    return tuple(k for k in steps[0][1] if k not in later)


_generic = elementwise_kernel(_fused_ew, 3)


def _kernel(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray] | None,
            attrs: Attrs) -> tuple[np.ndarray, ...]:
    return _generic(ins, outs, compiled_attrs(attrs))


FUSED = register(OpDef("fused", _rule, _flops, _kernel, inplace=True, ew=_fused_ew, n_tmp=3,
                       n_tmp_rule=n_tmp, bind=_bind, inplace_inputs=_inplace_inputs,
                       doc="a chain of elementwise ops run block by block in one pass"))
