"""Checking an ONNX model against the ONNX spec before anything is converted or allocated.

`check_model(model, label)` refuses, with a UserInputError naming the node ('Relu (act_1)'):
- a node the spec forbids: an op not defined at the model's opset, too many or too few inputs
  or outputs, an attribute without a type, of the wrong type, or unknown to the op
  (onnx.checker.check_node, against onnx.defs' schemas);
- a graph that is not one: a value defined twice, an IR-3 initializer missing from the inputs;
- what the checker of the whole model refuses (onnx.checker.check_model), except graph outputs
  declared without any type and graph inputs without a shape (bound by the caller), which ONNX
  Runtime accepts and the importer does not need;
- what strict type and shape inference refuses: inputs of types the op does not take, declared
  types or shapes that contradict the inferred ones, attribute values the op's inference rejects.

Attribute values the spec constrains but no inference checks (Gelu's approximate, epsilon signs,
Conv's kernel_shape against its weight) are checked by the converters that read them.
"""

from __future__ import annotations

import re
from typing import Any

from mlxa.errors import UserInputError

PROTOBUF_LIMIT_NBYTES = 2**31  # protobuf cannot serialize a message this big
# what onnx.checker says when a graph output has no type or shape (refused by the checker only)
_SHAPELESS = ("Field 'shape' of 'type' is required but missing",
              "Field 'type' of 'value_info' is required but missing")


def where(node: Any, index: int) -> str:
    """How errors name a node: 'Relu (act_1)', or 'Relu (node #3)' when it has no name."""
    return f"{text(node.op_type)} ({text(node.name) or f'node #{index}'})"


def text(field: str | bytes) -> str:
    """A string field as text: protobuf hands one that is not UTF-8 over as bytes."""
    if isinstance(field, bytes):
        return field.decode("utf-8", "backslashreplace")
    return field


def check_model(model: Any, label: str) -> None:
    """UserInputError naming the first thing in `model` that the ONNX spec forbids."""
    _check_versions(model, label)
    _check_names(model.graph, model.ir_version, label)
    _check_nodes(model, label)
    _check_whole(model, label)


def _first_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    text = re.sub(r"\(op_type:(\w+), node name: ([^)]*)\)", r"\1 (\2)", text)
    text = re.sub(r"\(op_type:(\w+)\)", r"\1", text)
    text = re.sub(r"Node\([^)]*\) with schema\(::(\w+):(\d+)\) has", r"(\1-\2 schema) has", text)
    for prefix in ("[ShapeInferenceError] Inference error(s): ", "[ShapeInferenceError] ",
                   "[TypeInferenceError] "):
        text = text.replace(prefix, "")
    return text[:300] or type(e).__name__


def _check_versions(model: Any, label: str) -> None:
    import onnx

    if model.ir_version > onnx.IR_VERSION:
        raise UserInputError(f"{label}: IR version {model.ir_version} is newer than the "
                             f"{onnx.IR_VERSION} this onnx package knows")
    versions: dict[str, int] = {}
    for o in model.opset_import:  # skl2onnx repeats the default domain at one version: harmless
        if versions.setdefault(o.domain, o.version) != o.version:
            raise UserInputError(f"{label}: opset domain {o.domain or 'ai.onnx'!r} is imported "
                                 f"twice, at versions {versions[o.domain]} and {o.version}")


def _check_names(graph: Any, ir_version: int, label: str) -> None:
    """Every value defined once (SSA); in IR 3, every initializer also a graph input; every
    declared tensor type with an element type, and a graph output's with a shape; node names
    unique."""
    inputs = {vi.name for vi in graph.input}
    initializers: set[str] = set()
    for t in graph.initializer:
        if t.name in initializers or not t.name:
            raise UserInputError(f"{label}: initializer {t.name!r} is defined twice or unnamed")
        if ir_version < 4 and t.name not in inputs:
            raise UserInputError(f"{label}: initializer {t.name!r} is not a graph input, which "
                                 f"IR version {ir_version} requires")
        initializers.add(t.name)
    defined = inputs | initializers
    if len(inputs) != len(graph.input):
        raise UserInputError(f"{label}: a graph input is declared twice")
    for vi in list(graph.input) + list(graph.output) + list(graph.value_info):
        if vi.type.WhichOneof("value") == "tensor_type" and not vi.type.tensor_type.elem_type:
            raise UserInputError(f"{label}: value {vi.name!r} is declared a tensor of no "
                                 "element type")
    for vi in graph.output:
        if vi.type.WhichOneof("value") == "tensor_type" and not vi.type.tensor_type.HasField(
                "shape"):
            raise UserInputError(f"{label}: graph output {vi.name!r} is declared a tensor "
                                 "without a shape (declare its dims, or no type at all)")
    node_names: set[str] = set()
    for index, node in enumerate(graph.node):
        if node.name and node.name in node_names:  # ONNX Runtime refuses this; the checker not
            raise UserInputError(f"{label}: {where(node, index)}: two nodes are named "
                                 f"{text(node.name)!r}")
        node_names.add(node.name)
        for name in node.output:
            if name and name in defined:
                raise UserInputError(f"{label}: {where(node, index)} redefines {name!r}, which "
                                     "is already defined (a value has one definition)")
            defined.add(name)


def _check_nodes(model: Any, label: str) -> None:
    from onnx import checker

    ctx = checker.C.CheckerContext()
    ctx.ir_version = model.ir_version
    ctx.opset_imports = {o.domain: o.version for o in model.opset_import}
    for index, node in enumerate(model.graph.node):  # (unsupported domains refused before)
        if any(a.g.node for a in node.attribute if a.HasField("g")):
            continue  # an If's branches read outer names: the whole-model check has the scope
        try:
            checker.check_node(node, ctx)
        except Exception as e:  # onnx's C++ raises several kinds on malformed nodes
            raise UserInputError(f"{label}: {where(node, index)}: {_first_line(e)}") from None


def _check_whole(model: Any, label: str) -> None:
    """The checker and strict inference in one pass over the serialized model; inference alone
    when the checker only objects to undeclared output shapes (it stops at the first error)."""
    from onnx import checker, shape_inference

    if model.ByteSize() >= PROTOBUF_LIMIT_NBYTES:
        return  # external data made it too big to serialize: the node checks still ran
    try:
        checker.check_model(model, full_check=True)
        return
    except shape_inference.InferenceError as e:
        raise UserInputError(f"{label}: {_first_line(e)}") from None
    except checker.ValidationError as e:
        if not any(s in str(e) for s in _SHAPELESS):
            raise UserInputError(f"{label}: not a valid ONNX model: {_first_line(e)}") from None
    except Exception as e:  # onnx's C++ raises several kinds on malformed models
        raise UserInputError(f"{label}: not a valid ONNX model: {_first_line(e)}") from None
    _check_inference(model, label)


def _check_inference(model: Any, label: str) -> None:
    from onnx import shape_inference

    try:
        shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except Exception as e:  # InferenceError, and whatever else the C++ side raises
        raise UserInputError(f"{label}: {_first_line(e)}") from None


# ONNX Runtime, the reference mlxa checks its results against, has no CPU kernel for these ops on
# these element types, though the spec allows them: refused, so that what mlxa accepts can be
# checked. (Found by running every converted op on every element type its schema admits.)
NO_REFERENCE_KERNEL: dict[str, frozenset[str]] = {
    "float64": frozenset({"AveragePool", "Conv", "Erf", "Gelu", "GlobalAveragePool",
                          "GlobalMaxPool", "HardSigmoid", "HardSwish", "LeakyRelu", "Mean",
                          "PRelu"}),
    "int64": frozenset({"Gemm", "PRelu", "Relu"}),
    "int32": frozenset({"Gemm", "PRelu"}),
    "bool": frozenset({"Where"}),
}


def check_reference_kernel(op_type: str, where_: str, data: Any) -> None:
    """Refuse `op_type` on the element type of `data` (its input of type T) where ONNX Runtime
    has no kernel for it."""
    dtype = getattr(data, "dtype", None)
    if dtype is not None and op_type in NO_REFERENCE_KERNEL.get(dtype.name, ()):
        raise UserInputError(f"{where_}: {op_type} on {dtype.name} is not supported (ONNX "
                             "Runtime, the reference mlxa checks against, has no kernel for it)")
