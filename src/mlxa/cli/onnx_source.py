"""An ONNX file as a model source (`mlxa analyze MODEL.onnx`): its input shapes bound from
`--input-shape`, `--batch` and `--inputs`, then imported by frontends/onnx_import.py.

Binding, per input the model declares: `--input-shape NAME=DIMS` wins; else the shape of the
`--inputs` array for it; else, with `--batch N`, a symbolic first dim becomes N when the other
dims are static. A first dim fixed in the model is never changed: asking another `--batch` is
refused. Without any of them, dynamic dims stay unbound and the importer asks for them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from mlxa.cli.input_files import InputArray, match_inputs, read_inputs
from mlxa.cli.model_sources import (
    LoadedModel,
    check_positive,
    check_run_fits,
    open_input_files,
    parse_input_shapes,
    parse_values,
)
from mlxa.errors import UserInputError
from mlxa.ir.graph import Graph

Dims = list[int | str] | None  # a declared shape: ints and symbols; None for an unknown rank


def load_onnx_file(args: argparse.Namespace) -> LoadedModel:
    """An ONNX file; its inputs from --inputs, --input values tiled over the first one, or random
    (seeded)."""
    try:
        from mlxa.frontends.onnx_import import load_onnx, read_model
    except ImportError:
        raise UserInputError("reading ONNX models needs the onnx package "
                             "(pip install 'mlxa[onnx]')") from None
    if args.batch is not None:
        check_positive("--batch", args.batch)
    shapes = parse_input_shapes(args.input_shape)
    values = None if args.input is None else parse_values(args.input)
    arrays = open_input_files(args)
    names: list[str] = []
    if args.batch is not None or arrays is not None:
        declared = declared_inputs(read_model(args.model_path))
        names = [name for name, _ in declared]
        if arrays is not None:
            arrays = match_inputs(arrays, names, args.inputs)
        shapes = bind_shapes(declared, shapes, args.batch, arrays, args.model_path)
    try:
        graph = load_onnx(args.model_path, shapes)
    except UserInputError as e:
        if arrays is None or "must be a constant" not in str(e):
            raise
        # a shape read from an input: the integer inputs --inputs gives become constants
        fixed = {n: a.read() for n, a in zip(names, arrays) if a.type.dtype.kind in "iu"}
        graph = load_onnx(args.model_path, {k: v for k, v in shapes.items() if k not in fixed},
                          constant_inputs=fixed)
        kept = [k for k, n in enumerate(names) if n not in fixed]
        names, arrays = [names[k] for k in kept], [arrays[k] for k in kept]
    check_run_fits(f"model {args.model_path!r}", graph)
    return LoadedModel(graph, _inputs(args, graph, arrays, names, values),
                       _info(args, graph, shapes, values))


def declared_inputs(model: Any) -> list[tuple[str, Dims]]:
    """(name, dims) of each input an onnx.ModelProto declares, initializers listed as inputs
    left out. The file is parsed once more than the import parses it: the binding must be known
    before the import, whose graph has no names."""
    initializers = {t.name for t in model.graph.initializer}
    found: list[tuple[str, Dims]] = []
    for vi in model.graph.input:
        if vi.name in initializers:
            continue
        tt = vi.type.tensor_type
        dims: Dims = ([d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                       for d in tt.shape.dim] if tt.HasField("shape") else None)
        found.append((vi.name, dims))
    return found


def bind_shapes(declared: list[tuple[str, Dims]], given: dict[str, tuple[int, ...]],
                batch: int | None, arrays: list[InputArray] | None,
                path: str) -> dict[str, tuple[int, ...]]:
    """The shapes to bind, by input name (the rules in the module docstring)."""
    shapes = dict(given)
    for i, (name, dims) in enumerate(declared):
        if arrays is not None and name not in shapes:
            _check_declared(arrays[i], name, dims)
            shapes[name] = arrays[i].type.shape
        if batch is None or not dims:  # no --batch, an unknown rank or a scalar: no batch dim
            continue
        shape = shapes.get(name)
        if shape is not None:
            if shape[0] != batch:
                dims_text = "x".join(map(str, shape))
                where = (f"--inputs {arrays[i].where} holds {dims_text} for input {name!r}"
                         if arrays is not None and name not in given
                         else f"--input-shape gives {name}={dims_text}")
                raise UserInputError(f"--batch {batch}, but {where}")
        elif isinstance(dims[0], int) and dims[0] > 0:
            if dims[0] != batch:
                raise UserInputError(f"{path!r}: input {name!r} has a fixed batch of {dims[0]} "
                                     f"([{','.join(map(str, dims))}]); --batch {batch} cannot "
                                     "change it")
        elif all(isinstance(d, int) and d > 0 for d in dims[1:]):
            shapes[name] = (batch, *(int(d) for d in dims[1:]))
    return shapes


def _check_declared(array: InputArray, name: str, dims: Dims) -> None:
    shape = array.type.shape
    if dims is not None and (len(dims) != len(shape) or any(
            isinstance(d, int) and d > 0 and d != s for d, s in zip(dims, shape))):
        raise UserInputError(f"--inputs {array.where}: input {name!r} of the model is "
                             f"[{','.join(map(str, dims))}], the file holds {array.type}")


def random_inputs(graph: Graph, seed: int, values: list[float] | None) -> tuple[np.ndarray, ...]:
    """Seeded random inputs, or --input values tiled over the first input."""
    rng = np.random.default_rng(seed)
    inputs = []
    for i, v in enumerate(graph.inputs):
        if i == 0 and values is not None:
            inputs.append(np.resize(np.asarray(values, v.dtype), v.shape))
        elif v.dtype.kind == "f":
            inputs.append(rng.standard_normal(v.shape).astype(v.dtype))
        elif v.dtype.kind == "b":
            inputs.append(rng.random(v.shape) < 0.5)
        else:  # integer inputs are often indices (token ids): keep them small
            inputs.append(rng.integers(0, 10, v.shape).astype(v.dtype))
    return tuple(inputs)


def _inputs(args: argparse.Namespace, graph: Graph, arrays: list[InputArray] | None,
            names: list[str], values: list[float] | None) -> tuple[np.ndarray, ...]:
    if arrays is None:
        return random_inputs(graph, args.seed, values)
    return read_inputs(arrays, [v.type for v in graph.inputs], names)


def _info(args: argparse.Namespace, graph: Graph, shapes: dict[str, tuple[int, ...]],
          values: list[float] | None) -> dict[str, Any]:
    source = (f"--inputs {args.inputs}" if getattr(args, "inputs", None)
              else "--input values tiled over the first input" if values is not None
              else f"random (seed {args.seed})")
    info: dict[str, Any] = {
        "name": Path(args.model_path).stem,
        "description": f"ONNX model {args.model_path} ({len(graph.nodes)} nodes)",
        "seed": args.seed, "weights": f"from {args.model_path}", "input_source": source,
        "input_shapes": {n: list(s) for n, s in shapes.items()}}
    if args.batch is not None:
        info["batch"] = args.batch
    return info
