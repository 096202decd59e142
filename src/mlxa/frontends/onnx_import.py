"""ONNX import: `load_onnx(path, input_shapes) -> Graph`.

The model is read (every failure a UserInputError of one line), its opset checked (13 to 21;
older models are first upgraded with onnx's version converter), every op checked against the
converter table at once (one UnsupportedOpError listing all of them), dynamic input dims bound
from `input_shapes`, and the nodes converted in order. Values computable without the model's
inputs are folded to constants as they are met (the Shape -> Gather -> Concat -> Reshape chains
exporters emit), so every IR shape is concrete. External tensor data is read only from files
inside the model's own folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mlxa.errors import UnsupportedOpError, UserInputError
from mlxa.frontends.onnx_context import ImportContext, Missing, OnnxNode, Operand
from mlxa.frontends.onnx_ops import CONVERTERS
from mlxa.ir.graph import Graph, GraphBuilder, Value

OPSETS = range(13, 22)  # default-domain opsets converted without upgrading
DOMAINS = ("", "ai.onnx")


def load_onnx(source: str | Path | Any, input_shapes: Mapping[str, tuple[int, ...]] | None = None
              ) -> Graph:
    """An ONNX model (a path, or an onnx.ModelProto) as a Graph with concrete shapes."""
    model, folder, label = _read(source)
    model = _checked_opset(model, label)
    graph = model.graph
    unsupported = unsupported_ops(graph)
    if unsupported:
        raise UnsupportedOpError(f"{label}: {len(unsupported)} unsupported op(s): "
                                 + ", ".join(unsupported))
    initializers = {t.name: _tensor(t, folder, label) for t in graph.initializer}
    builder = GraphBuilder(graph.name or Path(label).stem)
    ctx = ImportContext(builder, _opset(model))
    env: dict[str, Operand | Missing] = dict(initializers)
    ctx.inputs = _bind_inputs(graph, initializers, dict(input_shapes or {}), builder, env, label)
    for index, node in enumerate(graph.node):
        _convert(ctx, node, index, env, folder, label)
    return builder.build(*_outputs(ctx, graph, env, label))


def unsupported_ops(graph: Any) -> list[str]:
    """'OpType (node name)' for every node whose op the importer cannot convert."""
    found = []
    for index, node in enumerate(graph.node):
        if node.domain not in DOMAINS or node.op_type not in CONVERTERS:
            op = f"{node.domain}.{node.op_type}" if node.domain not in DOMAINS else node.op_type
            found.append(f"{op} ({node.name or f'node #{index}'})")
    return found


# -- reading -------------------------------------------------------------------------------------

def _read(source: str | Path | Any) -> tuple[Any, Path | None, str]:
    import onnx

    if isinstance(source, onnx.ModelProto):
        return source, None, source.graph.name or "model"
    path = Path(source)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserInputError(f"model file {str(path)!r} does not exist") from None
    except OSError as e:
        raise UserInputError(f"cannot read model file {str(path)!r}: {e.strerror}") from None
    from google.protobuf.message import DecodeError

    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError):
        raise UserInputError(f"{str(path)!r} is not an ONNX model (truncated or corrupt: "
                             "protobuf parsing failed)") from None
    if not data or model.ir_version < 3 or not model.HasField("graph") or not model.graph.output:
        raise UserInputError(f"{str(path)!r} is not an ONNX model (no IR version or graph; "
                             "truncated or not ONNX)")
    return model, path.resolve().parent, path.name


def _opset(model: Any) -> int:
    versions = [o.version for o in model.opset_import if o.domain in DOMAINS]
    return versions[0] if versions else 0


def _checked_opset(model: Any, label: str) -> Any:
    opset = _opset(model)
    if opset in OPSETS:
        return model
    if opset == 0 or opset > OPSETS[-1]:
        raise UserInputError(f"{label}: ONNX opset {opset or 'missing'} is not supported "
                             f"(opsets {OPSETS[0]} to {OPSETS[-1]})")
    from onnx import checker, version_converter

    try:
        return version_converter.convert_version(model, OPSETS[0])
    except (checker.ValidationError, RuntimeError, ValueError, TypeError, IndexError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserInputError(f"{label}: cannot upgrade opset {opset} to {OPSETS[0]}: "
                             f"{first}") from None


def _tensor(t: Any, folder: Path | None, label: str) -> np.ndarray:
    from onnx import TensorProto, numpy_helper

    if t.data_location == TensorProto.EXTERNAL:
        _load_external(t, folder, label)
    try:
        array = numpy_helper.to_array(t)
    except (ValueError, TypeError, KeyError) as e:
        raise UserInputError(f"{label}: tensor {t.name!r} cannot be read: {e}") from None
    if not array.flags.c_contiguous:  # (np.ascontiguousarray would make a scalar 1-D)
        array = array.copy()
    array.setflags(write=False)
    return array


def _load_external(t: Any, folder: Path | None, label: str) -> None:
    """Read a tensor's external data into it, from a file inside the model's folder only."""
    from onnx import TensorProto

    info = {e.key: e.value for e in t.external_data}
    location = info.get("location", "")
    if folder is None:
        raise UserInputError(f"{label}: tensor {t.name!r} has external data {location!r} but "
                             "the model was not loaded from a file")
    target = (folder / location).resolve()
    if not location or Path(location).is_absolute() or not target.is_relative_to(folder):
        raise UserInputError(f"{label}: external data {location!r} of tensor {t.name!r} lies "
                             f"outside the model's folder {str(folder)!r}; refused")
    offset, length = int(info.get("offset", 0)), int(info.get("length", -1))
    try:
        with open(target, "rb") as f:
            f.seek(offset)
            data = f.read(length if length >= 0 else -1)
    except OSError as e:
        raise UserInputError(f"{label}: cannot read external data {location!r} of tensor "
                             f"{t.name!r}: {e.strerror}") from None
    if length >= 0 and len(data) != length:
        raise UserInputError(f"{label}: external data {location!r} of tensor {t.name!r} is "
                             f"truncated ({len(data)} of {length} bytes)")
    t.raw_data = data
    t.data_location = TensorProto.DEFAULT
    del t.external_data[:]


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


def _input_type(vi: Any, given: tuple[int, ...] | None,
                label: str) -> tuple[tuple[int, ...], np.dtype]:
    from onnx import helper

    if vi.type.WhichOneof("value") != "tensor_type":
        raise UserInputError(f"{label}: input {vi.name!r} is not a tensor")
    tt = vi.type.tensor_type
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type))
    except (KeyError, TypeError, ValueError):
        raise UserInputError(f"{label}: input {vi.name!r} has an unsupported element type "
                             f"{tt.elem_type}") from None
    dims = ([d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
             for d in tt.shape.dim] if tt.HasField("shape") else None)
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


def _convert(ctx: ImportContext, node: Any, index: int, env: dict[str, Operand | Missing],
             folder: Path | None, label: str) -> None:
    where = f"{node.op_type} ({node.name or f'node #{index}'})"
    inputs: list[Operand | None] = []
    for name in node.input:
        if name and name not in env:
            raise UserInputError(f"{label}: {where} reads {name!r}, which no node or input "
                                 "defines (corrupt or truncated model?)")
        value = env[name] if name else None
        if isinstance(value, Missing):
            raise UserInputError(f"{label}: {where} reads the {value.what}, which is not "
                                 "supported")
        inputs.append(value)
    onnx_node = OnnxNode(node.op_type, where, inputs, _attributes(node, folder, label),
                         list(node.output), node.name)
    outputs = ctx.convert(CONVERTERS[node.op_type], onnx_node)
    for name, value in zip(node.output, outputs):
        if name and value is not None:
            env[name] = value


def _attributes(node: Any, folder: Path | None, label: str) -> dict[str, Any]:
    from onnx import AttributeProto, helper

    attrs: dict[str, Any] = {}
    for a in node.attribute:
        if a.type == AttributeProto.TENSOR:
            attrs[a.name] = _tensor(a.t, folder, label)
        elif a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS):
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
        if value in graph_inputs or value in outputs or isinstance(found, np.ndarray):
            value = ctx.builder.op("identity", value)
        outputs.append(value)
    return outputs
