"""ONNX import: `load_onnx(path, input_shapes) -> Graph`.

The model is read (a regular file only, within the memory budget; every failure a
UserInputError of one line that names the file by the path as given), every op checked against
the converter table at once (one UnsupportedOpError listing all of them), its external data read
(onnx_tensors.py: only from regular files inside the model's own folder), the whole model
checked against the ONNX spec (onnx_validate.py), its opset checked (13 to 21; 7 to 12 are
first upgraded with onnx's version converter), dynamic input dims bound from `input_shapes`, and
the nodes converted in order. Values computable without the model's inputs are folded to
constants as they are met (the Shape -> Gather -> Concat -> Reshape chains exporters emit), each
fold checked against the memory budget first, so every IR shape is concrete.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mlxa.budget import check_fits
from mlxa.errors import MlxaError, UnsupportedOpError, UserInputError
from mlxa.frontends import onnx_control, onnx_ml
from mlxa.frontends.onnx_context import ImportContext, Missing, OnnxNode, Operand
from mlxa.frontends.onnx_ops import CONVERTERS
from mlxa.frontends.onnx_tensors import (
    KINDS,
    inline_external_data,
    read_regular_file,
    read_tensor,
)
from mlxa.frontends.onnx_validate import check_model, text, where
from mlxa.ir.builder import GraphBuilder
from mlxa.ir.graph import Graph, Value

OPSETS = range(13, 22)  # default-domain opsets converted without upgrading
OLDEST_OPSET = 1  # opsets 1 to 12 are upgraded to 13 (below 7, onnx_legacy.py first)
DOMAINS = ("", "ai.onnx")


def load_onnx(source: str | Path | Any, input_shapes: Mapping[str, tuple[int, ...]] | None = None,
              constant_inputs: Mapping[str, np.ndarray] | None = None) -> Graph:
    """An ONNX model (a path, or an onnx.ModelProto) as a Graph with concrete shapes. Every
    error names the model by `label`, the path as the caller gave it. `constant_inputs` gives
    the values of some inputs (a shape an Expand reads from an input): they fold like
    initializers and are no inputs of the graph."""
    label = str(source) if isinstance(source, str | Path) else "model"
    try:
        model, folder, label = _read(source)
        return _load(model, folder, label, dict(input_shapes or {}),
                     dict(constant_inputs or {}))
    except MlxaError as e:
        message = str(e) if label in str(e) else f"{label}: {e}"
        raise type(e)(printable(message)) from None


def read_model(path: str | Path) -> Any:
    """The onnx.ModelProto in a model file, its external data not read: for callers that need
    its declarations (input names and shapes) before importing it. The file is read as the
    importer reads it (a regular file only, within the memory budget); errors are one line."""
    try:
        return _read(path)[0]
    except MlxaError as e:
        raise type(e)(printable(str(e))) from None


def printable(message: str | bytes) -> str:
    """message with control characters escaped: names in a model (or its path) may hold
    newlines or terminal escapes, and an error is one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text(message))


def _load(model: Any, folder: Path | None, label: str,
          input_shapes: dict[str, tuple[int, ...]],
          constant_inputs: dict[str, np.ndarray] | None = None) -> Graph:
    unsupported = unsupported_ops(model.graph)
    if unsupported:
        raise UnsupportedOpError(f"{label}: {len(unsupported)} unsupported op(s): "
                                 + ", ".join(unsupported) + onnx_control.refusal_note(unsupported)
                                 + onnx_ml.refusal_note(unsupported))
    inline_external_data(model, folder, label)
    check_model(model, label)
    model = _checked_opset(model, label)
    graph = model.graph
    initializers = {t.name: read_tensor(t, folder, label) for t in graph.initializer}
    initializers.update(_constant_inputs(graph, constant_inputs or {}, label))
    builder = GraphBuilder(printable(graph.name or Path(label).stem))
    ctx = ImportContext(builder, _opset(model))
    env: dict[str, Operand | Missing] = dict(initializers)
    ctx.inputs = _bind_inputs(graph, initializers, input_shapes, builder, env, label)
    for index, node in enumerate(graph.node):
        _convert(ctx, node, index, env, folder, label)
    return builder.build(*_outputs(ctx, graph, env, label))


def _constant_inputs(graph: Any, given: dict[str, np.ndarray], label: str
                     ) -> dict[str, np.ndarray]:
    """The given input values, each checked against its input's declared type."""
    declared = {vi.name: vi for vi in graph.input}
    out = {}
    for name, array in given.items():
        if name not in declared:
            raise UserInputError(f"{label}: no input named {name!r} to hold a constant")
        dtype, dims = _declared(declared[name], "input", label)
        if dtype != array.dtype or (dims is not None and (len(dims) != array.ndim or any(
                isinstance(d, int) and d != s for d, s in zip(dims, array.shape)))):
            raise UserInputError(f"{label}: input {name!r} is declared {dtype}"
                                 f"[{','.join(map(str, dims or ['...']))}], the value given is "
                                 f"{array.dtype}{list(array.shape)}")
        frozen = np.array(array)
        frozen.setflags(write=False)
        out[name] = frozen
    return out


def unsupported_ops(graph: Any) -> list[str]:
    """'OpType (node name)' for every node whose op the importer cannot convert."""
    found = []
    for index, node in enumerate(graph.node):
        if node.domain not in DOMAINS + (onnx_ml.ML_DOMAIN,):
            found.append(f"{text(node.domain)}.{where(node, index)}")
        elif not _supported(node):
            prefix = f"{onnx_ml.ML_DOMAIN}." if node.domain == onnx_ml.ML_DOMAIN else ""
            found.append(prefix + where(node, index))
    return found


def _supported(node: Any) -> bool:
    return node.op_type in _converters(node)


def _converters(node: Any) -> dict[str, Any]:
    """The converter table of a node's domain: the default one or ai.onnx.ml."""
    return onnx_ml.ML_CONVERTERS if node.domain == onnx_ml.ML_DOMAIN else CONVERTERS


# -- reading -------------------------------------------------------------------------------------

def _read(source: str | Path | Any) -> tuple[Any, Path | None, str]:
    """The model, its folder (for external data) and its label: the path as the user typed it."""
    import onnx

    if isinstance(source, onnx.ModelProto):
        return source, None, source.graph.name or "model"
    path = Path(source)
    label = str(source)
    data = read_regular_file(path, f"model file {label!r}")
    check_fits(f"parsing model file {label!r}", 2 * len(data))
    from google.protobuf.message import DecodeError

    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError):
        raise UserInputError(f"{label!r} is not an ONNX model (truncated or corrupt: "
                             "protobuf parsing failed)") from None
    if not data or model.ir_version < 3 or not model.HasField("graph") or not model.graph.output:
        raise UserInputError(f"{label!r} is not an ONNX model (no IR version or graph; "
                             "truncated or not ONNX)")
    return model, path.resolve().parent, label


def _opset(model: Any) -> int:
    versions = [o.version for o in model.opset_import if o.domain in DOMAINS]
    return versions[0] if versions else 0


def _checked_opset(model: Any, label: str) -> Any:
    opset = _opset(model)
    if opset in OPSETS:
        return model
    if opset < OLDEST_OPSET or opset > OPSETS[-1]:
        raise UserInputError(f"{label}: ONNX opset {opset or 'missing'} is not supported "
                             f"(opsets {OLDEST_OPSET} to {OPSETS[-1]}; those before "
                             f"{OPSETS[0]} are upgraded)")
    from mlxa.frontends.onnx_legacy import upgraded

    try:
        return upgraded(model, opset, OPSETS[0])
    except Exception as e:  # onnx's converter raises many kinds on bad models
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserInputError(f"{label}: cannot upgrade opset {opset} to {OPSETS[0]}: "
                             f"{first[:300]}") from None


# -- inputs, nodes, outputs ----------------------------------------------------------------------

def _bind_inputs(graph: Any, initializers: Mapping[str, np.ndarray],
                 shapes: dict[str, tuple[int, ...]], builder: GraphBuilder,
                 env: dict[str, Operand | Missing], label: str) -> list[Value]:
    inputs = [vi for vi in graph.input if vi.name not in initializers]
    names = [vi.name for vi in inputs]
    unknown = sorted(set(shapes) - set(names))
    if unknown:
        raise UserInputError(f"{label}: no input named {', '.join(map(repr, unknown))} "
                             f"(inputs: {', '.join(names) or 'none'})")
    values = []
    for vi in inputs:
        shape, dtype = _input_type(vi, shapes.get(vi.name), label)
        values.append(builder.input(shape, dtype))
        env[vi.name] = values[-1]
    return values


def _declared(vi: Any, what: str, label: str) -> tuple[np.dtype | None, list[Any] | None]:
    """A graph input's or output's declared element type and dims (ints, dim_param names or
    '?'; None for an unknown rank); both None for an output declared without a type."""
    from onnx import helper

    kind = vi.type.WhichOneof("value")
    if kind is None and what == "output":
        return None, None
    if kind != "tensor_type":
        raise UserInputError(f"{label}: {what} {vi.name!r} is not a tensor")
    tt = vi.type.tensor_type
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type))
    except (KeyError, TypeError, ValueError):
        dtype = None
    if dtype is None or dtype.kind not in KINDS:
        raise UserInputError(f"{label}: {what} {vi.name!r} has an unsupported element type "
                             f"{tt.elem_type}")
    dims = ([d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
             for d in tt.shape.dim] if tt.HasField("shape") else None)
    if any(isinstance(d, int) and d < 0 for d in dims or ()):
        raise UserInputError(f"{label}: {what} {vi.name!r} declares negative dims {dims}")
    return dtype, dims


def _input_type(vi: Any, given: tuple[int, ...] | None,
                label: str) -> tuple[tuple[int, ...], np.dtype]:
    dtype, dims = _declared(vi, "input", label)
    assert dtype is not None  # inputs always declare theirs
    if given is None:
        if dims is None or not all(isinstance(d, int) for d in dims):
            shown = "unknown rank" if dims is None else "[" + ",".join(map(str, dims)) + "]"
            raise UserInputError(f"{label}: input {vi.name!r} has dynamic shape {shown}; "
                                 f"give its shape (--input-shape {vi.name}=1x...)")
        return tuple(dims), dtype  # type: ignore[arg-type]
    given = tuple(int(d) for d in given)
    if dims is not None and (len(dims) != len(given) or any(
            isinstance(d, int) and d != g for d, g in zip(dims, given))):
        raise UserInputError(f"{label}: shape {'x'.join(map(str, given))} given for input "
                             f"{vi.name!r} does not fit its declared [{','.join(map(str, dims))}]")
    if any(g <= 0 for g in given):
        raise UserInputError(f"{label}: shape of input {vi.name!r} must be positive, got "
                             f"{'x'.join(map(str, given))}")
    return given, dtype


def _zipmapped(graph: Any, vi: Any) -> bool:
    """A sequence-of-maps output that a ZipMap makes: the importer keeps ZipMap's tensor."""
    return vi.type.WhichOneof("value") == "sequence_type" and any(
        n.op_type == "ZipMap" and vi.name in n.output for n in graph.node)


def _check_output(vi: Any, value: Value, label: str) -> None:
    """The declared type of a graph output, where given, must be the one computed."""
    dtype, dims = _declared(vi, "output", label)
    wrong_dtype = dtype is not None and dtype != value.dtype
    wrong_dims = dims is not None and (len(dims) != len(value.shape) or any(
        isinstance(d, int) and d != v for d, v in zip(dims, value.shape)))
    if wrong_dtype or wrong_dims:
        raise UserInputError(f"{label}: graph output {vi.name!r} is declared "
                             f"{dtype or '?'}[{','.join(map(str, dims or ['...']))}] but the "
                             f"model computes {value.type}")


def _convert(ctx: ImportContext, node: Any, index: int, env: dict[str, Operand | Missing],
             folder: Path | None, label: str) -> None:
    named = where(node, index)
    inputs: list[Operand | None] = []
    for name in node.input:
        if name and name not in env:
            raise UserInputError(f"{label}: {named} reads {name!r}, which no node or input "
                                 "defines (corrupt or truncated model?)")
        value = env[name] if name else None
        if isinstance(value, Missing):
            raise UserInputError(f"{label}: {named} reads the {value.what}, which is not "
                                 "supported")
        inputs.append(value)
    onnx_node = OnnxNode(node.op_type, named, inputs, _attributes(node, folder, label),
                         list(node.output), printable(node.name))  # names reach reports
    if node.op_type == "If" and node.domain in DOMAINS:  # its taken branch converts here
        outputs = onnx_control.fold_if(
            ctx, onnx_node, env, lambda sub, i: _convert(ctx, sub, i, env, folder, label),
            lambda t: read_tensor(t, folder, label), _supported)
    else:
        outputs = ctx.convert(_converters(node)[node.op_type], onnx_node)
    for name, value in zip(node.output, outputs):
        if name and value is not None:
            env[name] = value


def _attributes(node: Any, folder: Path | None, label: str) -> dict[str, Any]:
    from onnx import AttributeProto, helper

    attrs: dict[str, Any] = {}
    for a in node.attribute:
        if a.type == AttributeProto.TENSOR:
            attrs[a.name] = read_tensor(a.t, folder, label)
        elif a.type == AttributeProto.GRAPH:
            attrs[a.name] = a.g  # an If's branch (onnx_control); other subgraph ops are refused
        elif a.type == AttributeProto.GRAPHS:
            attrs[a.name] = None  # subgraphs: their ops are refused as unsupported
        else:
            value = helper.get_attribute_value(a)
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            attrs[a.name] = value
    return attrs


def _outputs(ctx: ImportContext, graph: Any, env: dict[str, Operand | Missing],
             label: str) -> list[Any]:
    outputs: list[Any] = []
    taken: set[Value] = set()  # (a set: a model may have many outputs)
    graph_inputs = set(ctx.inputs)
    for vi in graph.output:
        if vi.name not in env:
            raise UserInputError(f"{label}: graph output {vi.name!r} is computed by no node "
                                 "(corrupt or truncated model?)")
        found = env[vi.name]
        if isinstance(found, Missing):
            raise UserInputError(f"{label}: graph output {vi.name!r} is the {found.what}, "
                                 "which is not supported")
        value = ctx.value(found)
        if not _zipmapped(graph, vi):
            _check_output(vi, value, label)
        if value in graph_inputs or value in taken or isinstance(found, np.ndarray):
            value = ctx.builder.op("identity", value)
        outputs.append(value)
        taken.add(value)
    return outputs
