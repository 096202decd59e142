"""Model sources for model_args.load_model beyond the seed MLP: the zoo (`--model NAME` with
`--size KEY=VALUE`) and PyTorch (`--torch package.module:factory`).

A torch factory is a callable taking no arguments. It returns either `(module, example_inputs)`
or a module with an `example_inputs` attribute; example inputs are a tensor or a tuple of
tensors, and fix the imported graph's input shapes (--batch and --input do not apply).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import logging
import os
import sys
from typing import Any

import numpy as np

from mlxa.errors import MlxaError, UserInputError
from mlxa.ir.graph import Graph


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


def tiled_input(graph: Graph, values: list[float]) -> tuple[np.ndarray, ...]:
    """Each input: the values repeated over one sample's elements, the same for every sample."""
    arrays = []
    for v in graph.inputs:
        sample = np.resize(np.asarray(values, v.dtype), v.shape[1:])
        arrays.append(np.ascontiguousarray(np.broadcast_to(sample, v.shape)))
    return tuple(arrays)


def activation_nbytes(graph: Graph) -> int:
    """Bytes of every value the nodes compute: what eager execution allocates in one inference."""
    return sum(v.nbytes for n in graph.nodes for v in n.outputs)


def load_zoo(args: argparse.Namespace) -> Any:
    from mlxa.cli.model_args import LoadedModel, check_fits, check_positive, parse_values
    from mlxa.models.zoo import get_model

    model = get_model(args.model)
    check_positive("--batch", args.batch)
    sizes = parse_sizes(args.size, model.sizes, model.name)
    values = parse_values(args.input)
    graph = model.build(args.batch, args.seed, **sizes)
    # eager activations, plus at most as much again for the compiled plan, plus inputs
    check_fits(f"--model {model.name} --batch {args.batch}",
               graph.param_nbytes + 2 * activation_nbytes(graph)
               + 2 * sum(v.nbytes for v in graph.inputs))
    inputs = tiled_input(graph, values)
    size_text = ", ".join(f"{k}={v}" for k, v in {**model.sizes, **sizes}.items())
    info = {"name": model.name, "description": f"{model.description} ({size_text})",
            "batch": args.batch, "seed": args.seed, "sizes": {**model.sizes, **sizes},
            "weights": f"deterministic (seed {args.seed})", "input_values": values,
            "input_width": int(np.prod(graph.inputs[0].shape[1:]))}
    return LoadedModel(graph, inputs, info)


def load_torch(args: argparse.Namespace) -> Any:
    from mlxa.cli.model_args import LoadedModel

    module, example = call_factory(args.torch)
    try:
        import torch
    except ImportError:
        raise UserInputError("--torch needs PyTorch: pip install 'mlxa[torch]'") from None
    from mlxa.frontends.torch_import import from_torch

    graph = _quietly(from_torch, module, example)
    example = (example,) if isinstance(example, torch.Tensor) else tuple(example)
    inputs = tuple(np.ascontiguousarray(t.detach().cpu().numpy()) for t in example)
    shapes = ", ".join(str(list(a.shape)) for a in inputs)
    info = {"name": args.torch.rpartition(":")[2], "description":
            f"{type(module).__name__} from {args.torch} (torch.export), inputs {shapes}",
            "weights": f"the module's ({args.torch})"}
    return LoadedModel(graph, inputs, info)


def _quietly(fn: Any, *args: Any) -> Any:
    """fn(*args) with torch's logs and printouts held back: a failed export writes pages of
    them to stderr, and the command line reports the failure in one line."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return fn(*args)
    finally:
        logging.disable(previous)


def call_factory(spec: str) -> tuple[Any, Any]:
    """Import `package.module:factory`, call it, and return (module, example_inputs)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UserInputError(f"--torch {spec!r}: expected package.module:factory")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does, so local modules import
    # Importing the module and calling the factory run the user's code, which may raise
    # anything: each failure is reported as one line that names the spec.
    try:
        imported = importlib.import_module(module_name)
    except Exception as e:
        raise UserInputError(f"--torch {spec}: cannot import {module_name}: "
                             f"{type(e).__name__}: {e}") from None
    factory = getattr(imported, attr, None)
    if not callable(factory):
        raise UserInputError(f"--torch {spec}: {module_name} has no callable {attr!r}")
    try:
        result = factory()
    except MlxaError:
        raise
    except Exception as e:
        raise UserInputError(f"--torch {spec}: the factory raised {type(e).__name__}: {e}") \
            from None
    if isinstance(result, tuple) and len(result) == 2:
        return result
    if hasattr(result, "example_inputs"):
        return result, result.example_inputs
    raise UserInputError(f"--torch {spec}: the factory must return (module, example_inputs) or a "
                         "module with an example_inputs attribute")
