"""Model selection shared by the commands that load a model: options, validation, building.

Everything a user typed is checked here, before any large allocation, and a problem becomes a
UserInputError naming the option and the value.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlxa.errors import UserInputError

DEFAULT_INPUT = "0.5, 1.2, -0.3"


@dataclass(frozen=True)
class LoadedModel:
    graph: Any
    inputs: tuple[Any, ...]
    info: dict[str, Any]


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_path", nargs="?", metavar="MODEL.onnx",
                   help="an ONNX model file (instead of --model or --torch)")
    p.add_argument("--input-shape", action="append", metavar="NAME=1x3x224x224",
                   help="an ONNX input's shape, binding its dynamic dims (repeatable)")
    p.add_argument("--model", default="mlp",
                   help="zoo model: mlp (default, the seed's MLP), transformer, small_cnn, "
                        "mobilenet_v2, resnet18, resnet50 (`mlxa models` lists them)")
    p.add_argument("--size", action="append", metavar="KEY=VALUE",
                   help="a zoo model's size, e.g. --size seq=64 (repeatable; see `mlxa models`)")
    p.add_argument("--torch", metavar="PKG.MODULE:FACTORY",
                   help="a PyTorch model: FACTORY() returns (module, example_inputs) or a module "
                        "with an example_inputs attribute")
    p.add_argument("--input", default=DEFAULT_INPUT,
                   help='comma-separated numbers, tiled to the input width (default "%(default)s")')
    p.add_argument("--batch", type=int, default=32, help="batch size (default 32)")
    p.add_argument("--hidden", type=int, default=4096, help="MLP hidden width (default 4096)")
    p.add_argument("--layers", type=int, default=1, help="MLP hidden layers (default 1)")
    p.add_argument("--activation", default="gelu",
                   help="MLP activation: gelu (tanh approximation), gelu_exact, relu, swish")
    p.add_argument("--seed", type=int, default=0, help="seed of the deterministic weights")
    p.add_argument("--weights", help="MLP weights: .npz with w0, b0, w1, b1, ...")


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


def available_memory_nbytes() -> int:
    """MemAvailable from /proc/meminfo; physical pages as a fallback."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os

    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_fits(what: str, need_nbytes: int) -> None:
    from mlxa.units import format_nbytes

    have = available_memory_nbytes()
    if need_nbytes > have:
        raise UserInputError(f"{what} needs about {format_nbytes(need_nbytes)}, more than the "
                             f"{format_nbytes(have)} of memory available")


def load_model(args: argparse.Namespace) -> LoadedModel:
    from mlxa.cli.model_sources import load_torch, load_zoo

    if getattr(args, "model_path", None):
        if getattr(args, "torch", None) or args.model != "mlp":
            raise UserInputError("give a model file, --model or --torch, not several")
        return _load_onnx(args)
    if getattr(args, "torch", None):
        if args.model != "mlp":
            raise UserInputError("give --model or --torch, not both")
        return load_torch(args)
    if args.model != "mlp":
        return load_zoo(args)
    if getattr(args, "size", None):
        raise UserInputError("--size sets a zoo model's sizes; the MLP takes --hidden and --layers")
    return _load_mlp(args)


def _load_mlp(args: argparse.Namespace) -> LoadedModel:
    import numpy as np

    from mlxa.models.mlp import ACTIVATIONS, MLPConfig, estimate_nbytes, load_weights, mlp

    for name in ("batch", "hidden", "layers"):
        check_positive(f"--{name}", getattr(args, name))
    if args.activation not in ACTIVATIONS:
        raise UserInputError(f"unknown activation {args.activation!r}; "
                             f"choose from {', '.join(ACTIVATIONS)}")
    values = parse_values(args.input)
    config = MLPConfig(batch=args.batch, hidden=args.hidden, layers=args.layers,
                       activation=args.activation, seed=args.seed)
    if len(values) > config.in_features:
        raise UserInputError(f"--input has {len(values)} values, more than the input width "
                             f"{config.in_features}")
    check_fits(f"--batch {args.batch} with this model", estimate_nbytes(config))
    weights = load_weights(args.weights, config) if args.weights else None
    graph = mlp(config, weights)
    row = np.resize(np.asarray(values, np.float32), config.in_features)
    x = np.ascontiguousarray(np.broadcast_to(row, (config.batch, config.in_features)))
    info = {"name": "mlp", "description": config.describe(), "batch": config.batch,
            "activation": config.activation, "seed": config.seed,
            "weights": args.weights or f"deterministic (seed {config.seed})",
            "input_values": values, "input_width": config.in_features}
    return LoadedModel(graph, (x,), info)


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


def _load_onnx(args: argparse.Namespace) -> LoadedModel:
    """An ONNX file; its inputs random (seeded), or --input values tiled over the first one."""
    import numpy as np

    try:
        from mlxa.frontends.onnx_import import load_onnx
    except ImportError:
        raise UserInputError("reading ONNX models needs the onnx package "
                             "(pip install 'mlxa[onnx]')") from None
    shapes = parse_input_shapes(args.input_shape)
    values = None if args.input is DEFAULT_INPUT else parse_values(args.input)  # given or not
    graph = load_onnx(args.model_path, shapes)
    activations = sum(v.nbytes for n in graph.nodes for v in n.outputs)
    check_fits(f"model {args.model_path!r}", graph.param_nbytes + 2 * activations)
    rng = np.random.default_rng(args.seed)
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
    name = Path(args.model_path).stem
    info = {"name": name, "description": f"ONNX model {args.model_path} "
                                         f"({len(graph.nodes)} nodes)",
            "seed": args.seed, "weights": f"from {args.model_path}",
            "input_source": "--input values tiled over the first input" if values is not None
                      else f"random (seed {args.seed})",
            "input_shapes": {n: list(s) for n, s in shapes.items()}}
    return LoadedModel(graph, tuple(inputs), info)
