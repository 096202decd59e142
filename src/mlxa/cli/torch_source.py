"""A PyTorch model as a model source (`--torch package.module:factory`), imported through
torch.export by frontends/torch_import.py.

A torch factory is a callable taking no arguments. It returns either `(module, example_inputs)`
or a module with an `example_inputs` attribute; example inputs are a tensor or a tuple of
tensors, and fix the imported graph's input shapes and values (--batch, --input and --inputs
are refused).
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

from mlxa.cli.model_sources import LoadedModel, check_run_fits
from mlxa.errors import MlxaError, UserInputError


def load_torch(args: argparse.Namespace) -> LoadedModel:
    for option, value in (("--batch", args.batch), ("--input", args.input),
                          ("--inputs", getattr(args, "inputs", None))):
        if value is not None:
            raise UserInputError(f"{option} does not apply to --torch: the factory's example "
                                 "inputs are the model's inputs")
    module, example = call_factory(args.torch)
    try:
        import torch
    except ImportError:
        raise UserInputError("--torch needs PyTorch: pip install 'mlxa[torch]'") from None
    from mlxa.frontends.torch_import import from_torch

    graph = _quietly(from_torch, module, example)
    check_run_fits(f"--torch {args.torch}", graph)
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
