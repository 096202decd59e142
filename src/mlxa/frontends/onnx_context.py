"""The state an ONNX node's converter works with: its inputs (IR values or constant arrays), its
attributes, and `ImportContext.op`, which either adds an IR node or, when every operand is a
constant, folds it by running the op table's own kernel on them now.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np

from mlxa.budget import check_fits
from mlxa.errors import ShapeError, UserInputError
from mlxa.frontends.onnx_validate import check_reference_kernel
from mlxa.ir.builder import GraphBuilder
from mlxa.ir.graph import TensorType, Value
from mlxa.ops import get_op, infer_types

Operand = Value | np.ndarray


@dataclass(frozen=True)
class Missing:
    """An output the importer does not compute (MaxPool's indices, BatchNorm's running stats):
    an error only if a later node reads it."""

    what: str


@dataclass
class OnnxNode:
    """One ONNX node as converters see it; `where` names it in errors ('Conv (conv_1)')."""

    op_type: str
    where: str
    inputs: list[Operand | None]
    attrs: dict[str, Any]
    outputs: list[str]
    name: str = ""

    def input(self, k: int) -> Operand | None:
        """Input k, None when absent (an optional input left out)."""
        return self.inputs[k] if k < len(self.inputs) else None

    def arg(self, k: int) -> Operand:
        """Input k, which the op requires."""
        x = self.input(k)
        if x is None:
            raise UserInputError(f"{self.where}: required input {k} is missing")
        return x

    def args(self, n: int) -> list[Operand]:
        return [self.arg(k) for k in range(n)]

    def present(self) -> list[Operand]:
        """The inputs given, in order (variadic ops, optional trailing inputs)."""
        return [x for x in self.inputs if x is not None]

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)


Converter = Callable[["ImportContext", OnnxNode], Sequence[Any]]


@dataclass
class ImportContext:
    builder: GraphBuilder
    opset: int
    node: OnnxNode | None = None
    inputs: list[Value] = field(default_factory=list)
    _params: dict[tuple[int, bool], tuple[np.ndarray, Value]] = field(default_factory=dict)

    def convert(self, fn: Converter, node: OnnxNode) -> list[Any]:
        self.node = node
        check_reference_kernel(node.op_type, node.where,
                               node.input(1) if node.op_type == "Where" else node.input(0))
        try:
            outputs = list(fn(self, node))
        except (ShapeError, UserInputError) as e:
            if str(e).startswith(node.where):
                raise
            raise type(e)(f"{node.where}: {e}") from None
        except (IndexError, KeyError, TypeError, ValueError, AttributeError,
                ArithmeticError) as e:
            # a required input or attribute missing, or of the wrong kind: a malformed model
            raise UserInputError(f"{node.where}: malformed node ({type(e).__name__}: {e})"
                                 ) from None
        while len(outputs) < len(node.outputs):
            outputs.append(Missing(f"output {len(outputs)} of {node.where}"))
        return outputs[:len(node.outputs)]

    def check_fits(self, what: str, need_nbytes: int) -> None:
        """The memory budget's check, naming the node: before any allocation a model drives."""
        check_fits(f"{self.node.where if self.node else 'model'}: {what}", need_nbytes)

    def fail(self, message: str) -> NoReturn:
        where = self.node.where if self.node else "model"
        raise UserInputError(f"{where}: {message}")

    def value(self, x: Operand, broadcast: bool = False) -> Value:
        """x as an IR value: constants become parameters, one per array. Parameters are at
        least 1-D, so a scalar gets a reshape to () unless it only broadcasts (`broadcast`)."""
        if isinstance(x, Value):
            return x
        key = (id(x), x.ndim == 0 and not broadcast)
        if key not in self._params:
            v = self.builder.param(x)
            if key[1]:
                v = self.builder.op("reshape", v, shape=())
            self._params[key] = (x, v)
        return self._params[key][1]

    def const(self, k: int, what: str) -> np.ndarray | None:
        """Input k as a constant array (None when absent); an error if it depends on inputs."""
        x = self.node.input(k) if self.node else None
        if x is None or isinstance(x, np.ndarray):
            return x
        self.fail(f"{what} (input {k}) must be a constant, but it depends on the model's "
                  "inputs (dynamic shapes are not supported)")

    def required_const(self, k: int, what: str) -> np.ndarray:
        x = self.const(k, what)
        if x is None:
            self.fail(f"{what} (input {k}) is missing")
        return x

    def op(self, name: str, *operands: Operand, **attrs: Any) -> Operand:
        (out,) = self.op_multi(name, *operands, **attrs)
        return out

    def op_multi(self, name: str, *operands: Operand, **attrs: Any) -> tuple[Operand, ...]:
        if all(isinstance(x, np.ndarray) for x in operands):
            return self._fold(name, operands, attrs)  # type: ignore[arg-type]
        broadcast = get_op(name).elementwise and max(len(x.shape) for x in operands) > 0
        values = [self.value(x, broadcast) for x in operands]
        return self.builder.op_multi(name, *values, name=self.node.name if self.node else "",
                                     **attrs)

    def _fold(self, name: str, arrays: Sequence[np.ndarray],
              attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
        types = [TensorType(a.shape, a.dtype) for a in arrays]
        out_types = infer_types(name, types, attrs, f"{name} of constants")
        self.check_fits(f"folding {name} of constants to {', '.join(map(str, out_types))}",
                        sum(t.nbytes for t in out_types))
        if name == "div" and arrays[0].dtype.kind in "iu":
            outs: tuple[np.ndarray, ...] = (_integer_div(*arrays),)
        else:
            try:
                outs = tuple(get_op(name).kernel(list(arrays), None, attrs))
            except (ValueError, TypeError, IndexError, ArithmeticError) as e:
                self.fail(f"folding {name} of constants failed: {e}")
        for a in outs:
            a.setflags(write=False)
        return outs


def _integer_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ONNX integer Div truncates toward zero (numpy's // floors): the floor, plus one where
    the division is inexact and the signs differ (no abs, which overflows at the minimum)."""
    check_integer_divisor(a, b)
    q = np.floor_divide(a, b)
    inexact = np.mod(a, b) != 0
    return np.where(inexact & ((a < 0) ^ (b < 0)), q + 1, q).astype(np.result_type(a, b))


def check_integer_divisor(a: np.ndarray, b: np.ndarray) -> None:
    """Integer division (or Mod) by zero, or of the most negative value by -1 (which overflows,
    and traps in C), is refused rather than given some value."""
    if np.any(b == 0):
        raise UserInputError("integer division by zero in a constant expression")
    if a.dtype.kind == "i" and np.any((a == np.iinfo(a.dtype).min) & (b == -1)):
        raise UserInputError(f"integer division of {np.iinfo(a.dtype).min} by -1 overflows, in a "
                             "constant expression")


def registrar(table: dict[str, Converter]) -> Callable[..., Callable[[Converter], Converter]]:
    """A decorator registering a converter in `table` under one or more ONNX op types."""

    def converts(*op_types: str) -> Callable[[Converter], Converter]:
        def register(fn: Converter) -> Converter:
            for op in op_types:
                table[op] = fn
            return fn
        return register

    return converts


def choice(ctx: ImportContext, node: OnnxNode, name: str, default: str,
           allowed: Sequence[str]) -> str:
    """A string attribute that the spec restricts to `allowed`."""
    value = node.attr(name, default)
    if value not in allowed:
        ctx.fail(f"{name}={value!r} is not one of {', '.join(map(repr, allowed))}")
    return str(value)


def flag(ctx: ImportContext, node: OnnxNode, name: str, default: int = 0) -> int:
    """An int attribute that the spec restricts to 0 or 1."""
    value = node.attr(name, default)
    if value not in (0, 1):
        ctx.fail(f"{name}={value!r} must be 0 or 1")
    return int(value)


def non_negative(ctx: ImportContext, node: OnnxNode, name: str, default: float) -> float:
    value = node.attr(name, default)
    if not value >= 0:  # (NaN included)
        ctx.fail(f"{name}={value!r} must be non-negative")
    return float(value)


def shape_of(x: Operand) -> tuple[int, ...]:
    return tuple(x.shape)


def scalar(x: np.ndarray | None) -> Any:
    """A one-element constant as a Python number (None stays None)."""
    if x is None:
        return None
    if x.size != 1:
        raise UserInputError(f"expected a single value, got an array of shape {list(x.shape)}")
    return x.reshape(()).item()


def ints(x: np.ndarray | None) -> tuple[int, ...] | None:
    return None if x is None else tuple(int(v) for v in x.reshape(-1))
