"""Model sources: the seed MLP and the zoo (`--model NAME` with `--size KEY=VALUE`), each loaded
with its inputs as a LoadedModel, and the pieces every source shares (option values, the memory
check, --inputs). ONNX files are loaded by onnx_source.py and torch factories by
torch_source.py; model_args.py holds the options and picks the source. Imports go one way:
model_args -> onnx_source, torch_source -> model_sources -> input_files.

The batch is resolved per source: the MLP defaults to 32 (the seed command's), a zoo model to 1;
an ONNX model's dynamic batch dim is bound only when `--batch` is given; a torch factory's
example inputs fix it. `--inputs FILE` replaces `--input` and gives the batch when `--batch`
does not. Every source checks the memory a run needs (mlxa.budget.run_need_nbytes) before it
allocates.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlxa.budget import check_fits, run_need_nbytes
from mlxa.cli.input_files import InputArray, match_inputs, open_inputs, read_inputs
from mlxa.errors import UserInputError
from mlxa.ir.graph import Graph

DEFAULT_INPUT = "0.5, 1.2, -0.3"
MLP_BATCH = 32  # the seed command's batch
ZOO_BATCH = 1


@dataclass(frozen=True)
class LoadedModel:
    graph: Graph
    inputs: tuple[np.ndarray, ...]
    info: dict[str, Any]


# -- option values -------------------------------------------------------------------------------

def parse_values(text: str) -> list[float]:
    parts = [s.strip() for s in text.split(",")]
    if not text.strip() or any(not s for s in parts):
        raise UserInputError(f"--input {text!r}: expected comma-separated numbers")
    values = []
    for s in parts:
        try:
            x = float(s)
        except ValueError:
            raise UserInputError(f"--input: {s!r} is not a number") from None
        if not math.isfinite(x):
            raise UserInputError(f"--input: {s!r} is not a finite number")
        values.append(x)
    return values


def check_positive(name: str, value: int) -> None:
    if value <= 0:
        raise UserInputError(f"{name} must be a positive integer, got {value}")


def parse_sizes(items: list[str] | None, defaults: dict[str, Any], model: str) -> dict[str, Any]:
    """--size KEY=VALUE options, each value converted to the type of the size's default."""
    sizes: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UserInputError(f"--size {item!r}: expected KEY=VALUE")
        if key not in defaults:
            raise UserInputError(f"--size {key}: model {model} has no such size; "
                                 f"its sizes: {', '.join(defaults) or 'none'}")
        kind = type(defaults[key])
        try:
            value = kind(text)
        except ValueError:
            raise UserInputError(f"--size {key}={text}: expected {kind.__name__}") from None
        if isinstance(value, (int, float)) and value <= 0:
            raise UserInputError(f"--size {key} must be positive, got {text}")
        sizes[key] = value
    return sizes


def parse_input_shapes(items: list[str] | None) -> dict[str, tuple[int, ...]]:
    """--input-shape NAME=1x3x224x224 (repeatable) as {name: shape}."""
    shapes: dict[str, tuple[int, ...]] = {}
    for item in items or []:
        name, sep, dims = item.partition("=")
        try:
            shape = tuple(int(d) for d in dims.lower().split("x"))
        except ValueError:
            shape = ()
        if not sep or not name or not shape or min(shape) <= 0:
            raise UserInputError(f"--input-shape {item!r}: expected NAME=DIMS with positive "
                                 "dims joined by x, e.g. input=1x3x224x224")
        if name in shapes:
            raise UserInputError(f"--input-shape gives input {name!r} twice")
        shapes[name] = shape
    return shapes


# -- memory and inputs shared by the sources -----------------------------------------------------

def activation_nbytes(graph: Graph) -> int:
    """Bytes of every value the nodes compute: what eager execution allocates in one inference."""
    return sum(v.nbytes for n in graph.nodes for v in n.outputs)


def check_run_fits(what: str, graph: Graph) -> None:
    """The one fits-in-memory check of a model about to be run (mlxa.budget)."""
    check_fits(what, run_need_nbytes(graph.param_nbytes, activation_nbytes(graph),
                                     sum(v.nbytes for v in graph.inputs)))


def input_names(graph: Graph) -> list[str]:
    """Names of a built model's inputs, as onnx_export writes them."""
    return [f"input_{i}" for i in range(len(graph.inputs))]


def tiled_input(graph: Graph, values: list[float]) -> tuple[np.ndarray, ...]:
    """Each input: the values repeated over one sample's elements, the same for every sample."""
    arrays = []
    for v in graph.inputs:
        sample = np.resize(np.asarray(values, v.dtype), v.shape[1:])
        arrays.append(np.ascontiguousarray(np.broadcast_to(sample, v.shape)))
    return tuple(arrays)


def open_input_files(args: argparse.Namespace) -> list[InputArray] | None:
    if not getattr(args, "inputs", None):
        return None
    if args.input is not None:
        raise UserInputError("give --input or --inputs, not both")
    return open_inputs(args.inputs)


def _batch(args: argparse.Namespace, arrays: list[InputArray] | None, default: int) -> int:
    """--batch, else the first dim of the first array of --inputs, else the source's default."""
    given = args.batch
    file_batch = arrays[0].type.shape[0] if arrays and arrays[0].type.shape else None
    if given is not None and file_batch is not None and given != file_batch:
        raise UserInputError(f"--batch {given}, but --inputs {args.inputs!r} holds a batch of "
                             f"{file_batch}")
    batch = given if given is not None else file_batch if file_batch is not None else default
    check_positive("--batch", batch)
    return batch


def _given_or_tiled(args: argparse.Namespace, graph: Graph, arrays: list[InputArray] | None,
                    values: list[float]) -> tuple[tuple[np.ndarray, ...], dict[str, Any]]:
    if arrays is None:
        return tiled_input(graph, values), {"input_values": values}
    names = input_names(graph)
    matched = match_inputs(arrays, names, args.inputs)
    read = read_inputs(matched, [v.type for v in graph.inputs], names)
    return read, {"input_source": f"--inputs {args.inputs}"}


# -- the sources ---------------------------------------------------------------------------------

def load_mlp(args: argparse.Namespace) -> LoadedModel:
    from mlxa.models.mlp import ACTIVATIONS, MLPConfig, load_weights, mlp, weight_shapes

    arrays = open_input_files(args)
    batch = _batch(args, arrays, MLP_BATCH)
    for name in ("hidden", "layers"):
        check_positive(f"--{name}", getattr(args, name))
    if args.activation not in ACTIVATIONS:
        raise UserInputError(f"unknown activation {args.activation!r}; "
                             f"choose from {', '.join(ACTIVATIONS)}")
    values = parse_values(DEFAULT_INPUT if args.input is None else args.input)
    config = MLPConfig(batch=batch, hidden=args.hidden, layers=args.layers,
                       activation=args.activation, seed=args.seed)
    if len(values) > config.in_features:
        raise UserInputError(f"--input has {len(values)} values, more than the input width "
                             f"{config.in_features}")
    what = f"--batch {batch} with this model"
    # the weights are the only allocation building does: checked before it, the run after
    check_fits(what, sum(math.prod(s) for s in weight_shapes(config).values())
               * np.dtype(np.float32).itemsize)
    weights = load_weights(args.weights, config) if args.weights else None
    graph = mlp(config, weights)
    check_run_fits(what, graph)
    inputs, input_info = _given_or_tiled(args, graph, arrays, values)
    info = {"name": "mlp", "description": config.describe(), "batch": config.batch,
            "activation": config.activation, "seed": config.seed,
            "weights": args.weights or f"deterministic (seed {config.seed})",
            **input_info, "input_width": config.in_features}
    return LoadedModel(graph, inputs, info)


def load_zoo(args: argparse.Namespace) -> LoadedModel:
    from mlxa.models.zoo import get_model

    model = get_model(args.model)
    arrays = open_input_files(args)
    batch = _batch(args, arrays, ZOO_BATCH)
    sizes = parse_sizes(args.size, model.sizes, model.name)
    values = parse_values(DEFAULT_INPUT if args.input is None else args.input)
    graph = model.build(batch, args.seed, **sizes)  # weights only: no activations yet
    check_run_fits(f"--model {model.name} --batch {batch}", graph)
    inputs, input_info = _given_or_tiled(args, graph, arrays, values)
    size_text = ", ".join(f"{k}={v}" for k, v in {**model.sizes, **sizes}.items())
    info = {"name": model.name, "description": f"{model.description} ({size_text})",
            "batch": batch, "seed": args.seed, "sizes": {**model.sizes, **sizes},
            "weights": f"deterministic (seed {args.seed})", **input_info,
            "input_width": int(np.prod(graph.inputs[0].shape[1:]))}
    return LoadedModel(graph, inputs, info)
