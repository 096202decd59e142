"""PyTorch importer: `from_torch(module, example_inputs) -> Graph`.

The module is captured with torch.export.export (in eval mode, so batch norm uses its running
statistics) and functionalised with run_decompositions({}): an ATen graph that keeps the
high-level ops (conv2d, linear, layer_norm) the op table has rules for, instead of lowering them
to core ATen. The core ATen spellings (convolution, addmm, native_layer_norm, ...) are mapped too.

Parameters, buffers and lifted constants become graph parameters. Ops whose operands are all
constants (the permute torch puts on a Linear's weight, scalar arithmetic) are folded with the op
table's own kernels, so they cost nothing at run time. Every aten op the importer has no rule for
is listed in one UnsupportedOpError before anything is built. Shapes are static: those of the
example inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlxa.errors import ShapeError, UnsupportedOpError, UserInputError
from mlxa.frontends import (  # noqa: F401  (register their converters)
    torch_aten_layout,
    torch_aten_logic,
    torch_aten_nn,
)
from mlxa.frontends.torch_aten import CONVERTERS, Operand, numpy_dtype
from mlxa.ir.builder import GraphBuilder
from mlxa.ir.graph import Graph, Value
from mlxa.ops import get_op


def from_torch(module: Any, example_inputs: Any) -> Graph:
    """Import a torch.nn.Module run on `example_inputs` (a tensor or a tuple of tensors)."""
    import torch

    inputs = (example_inputs,) if isinstance(example_inputs, torch.Tensor) \
        else tuple(example_inputs)
    if not all(isinstance(t, torch.Tensor) for t in inputs):
        raise UserInputError("example inputs must be tensors: got "
                             + ", ".join(type(t).__name__ for t in inputs))
    program = _export(module, inputs)
    _check_supported(program.graph)
    return Importer(type(module).__name__).run(program)


# What torch.export raises on a module it cannot capture (its own errors derive from RuntimeError).
EXPORT_ERRORS = (RuntimeError, ValueError, TypeError, AssertionError, AttributeError, KeyError,
                 IndexError)


def _export(module: Any, inputs: tuple[Any, ...]) -> Any:
    import torch

    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            return torch.export.export(module, inputs).run_decompositions({})
    except EXPORT_ERRORS as e:  # export fails in many ways; the user needs one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise UserInputError(f"torch.export could not capture {type(module).__name__}: "
                             f"{type(e).__name__}: {first}") from None
    finally:
        module.train(was_training)


def op_key(target: Any) -> str:
    """'aten.add.Tensor' -> 'aten.add': converters handle every overload of an op."""
    return ".".join(str(target).split(".")[:2])


def _check_supported(fx_graph: Any) -> None:
    import operator

    missing: dict[str, Any] = {}
    for n in fx_graph.nodes:
        if n.op == "call_function" and n.target is not operator.getitem \
                and op_key(n.target) not in CONVERTERS:
            missing.setdefault(op_key(n.target), n)
    if missing:
        raise UnsupportedOpError(f"unsupported aten ops ({len(missing)}): " + ", ".join(
            f"{key} ({node_where(node)})" for key, node in sorted(missing.items())))


def node_where(node: Any) -> str:
    """How errors name an fx node: its name and, when torch recorded one, the source line of
    the model that made it ('gt_1 at modeling_t5.py:412')."""
    line = source_line(node.meta.get("stack_trace"))
    return f"{node.name} at {line}" if line else node.name


def source_line(stack_trace: str | None) -> str:
    """'file.py:123' from the innermost frame of a stack trace torch recorded ('' if none)."""
    import re

    frames = re.findall(r'File "([^"]+)", line (\d+)', stack_trace or "")
    if not frames:
        return ""
    path, line = frames[-1]
    return f"{path.replace(chr(92), '/').rsplit('/', 1)[-1]}:{line}"


class Importer:
    """Walks an exported program in order; env maps each fx node to an Operand (or a tuple of
    them for multi-output ops). Constants stay numpy arrays until an op that runs needs them."""

    def __init__(self, name: str) -> None:
        self.b = GraphBuilder(name)
        self.env: dict[Any, Any] = {}
        self._params: dict[int, tuple[np.ndarray, Value]] = {}

    def run(self, program: Any) -> Graph:
        self._bind_placeholders(program)
        outputs: tuple[Any, ...] = ()
        for node in program.graph.nodes:
            if node.op == "call_function":
                self.env[node] = self._convert(node)
            elif node.op == "output":
                outputs = tuple(self._resolve(a) for a in node.args[0])
        return self.b.build(*(self.value(v) if isinstance(v, np.ndarray) else v
                              for v in outputs))

    def _bind_placeholders(self, program: Any) -> None:
        from torch.export.graph_signature import InputKind

        tensors = {**program.state_dict, **program.constants}
        placeholders = [n for n in program.graph.nodes if n.op == "placeholder"]
        for node, spec in zip(placeholders, program.graph_signature.input_specs):
            if spec.kind == InputKind.USER_INPUT:
                meta = node.meta["val"]
                self.env[node] = self.b.input(tuple(meta.shape), numpy_dtype(meta.dtype))
            else:
                self.env[node] = _to_numpy(tensors[spec.target])

    def _convert(self, node: Any) -> Any:
        import operator

        if node.target is operator.getitem:
            seq, index = node.args
            return self.env[seq][index]
        from torch.fx.operator_schemas import normalize_function

        bound = normalize_function(node.target, node.args, node.kwargs,
                                   normalize_to_only_use_kwargs=True)
        if bound is None:
            raise UnsupportedOpError(f"cannot read the arguments of {node.format_node()}")
        args = {k: self._resolve(v) for k, v in bound.kwargs.items()}
        try:
            result = CONVERTERS[op_key(node.target)](self, args, node.meta.get("val"))
            _check_shape(node, result)
        except (UnsupportedOpError, ShapeError, UserInputError) as e:
            raise type(e)(f"{op_key(node.target)} ({node_where(node)}): {e}") from None
        return result

    def _resolve(self, arg: Any) -> Any:
        import torch.fx

        if isinstance(arg, torch.fx.Node):
            return self.env[arg]
        if isinstance(arg, (list, tuple)):
            return type(arg)(self._resolve(a) for a in arg)
        return arg

    def value(self, x: Operand) -> Value:
        """The graph value of an operand: constants become parameters (once per array)."""
        if isinstance(x, Value):
            return x
        key = id(x)
        if key not in self._params:
            self._params[key] = (x, self.b.param(x))  # the array is kept, so its id stays unique
        return self._params[key][1]

    def emit(self, op: str, *inputs: Operand, **attrs: Any) -> Operand:
        """Add an op, or fold it when every input is a constant."""
        if all(isinstance(x, np.ndarray) for x in inputs):
            return get_op(op).kernel(list(inputs), None, attrs)[0]
        return self.b.op(op, *(self.value(x) for x in inputs), **attrs)

    def emit_multi(self, op: str, *inputs: Operand, **attrs: Any) -> tuple[Operand, ...]:
        if all(isinstance(x, np.ndarray) for x in inputs):
            return tuple(get_op(op).kernel(list(inputs), None, attrs))
        return self.b.op_multi(op, *(self.value(x) for x in inputs), **attrs)


def _check_shape(node: Any, result: Any) -> None:
    meta = node.meta.get("val")
    if isinstance(result, (Value, np.ndarray)) and hasattr(meta, "shape") \
            and tuple(result.shape) != tuple(meta.shape):
        raise ShapeError(f"importing {node.format_node()}: got shape {list(result.shape)}, "
                         f"torch says {list(meta.shape)}")


def _to_numpy(t: Any) -> np.ndarray:
    return np.array(t.detach().cpu().numpy(), order="C")  # a copy that keeps 0-d tensors 0-d
