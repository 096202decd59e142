"""Model selection shared by the commands that load a model: the options, and the dispatch to
the source that loads it (model_sources.py: the MLP and the zoo; onnx_source.py; torch_source.py).

Everything a user typed is checked before any large allocation, and a problem becomes a
UserInputError naming the option and the value.
"""

from __future__ import annotations

import argparse

from mlxa.cli.model_sources import (
    DEFAULT_INPUT,
    MLP_BATCH,
    ZOO_BATCH,
    LoadedModel,
    check_positive,
    load_mlp,
    load_zoo,
)
from mlxa.cli.onnx_source import load_onnx_file
from mlxa.cli.torch_source import load_torch
from mlxa.errors import UserInputError

__all__ = ["LoadedModel", "add_model_args", "check_positive", "load_model"]


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
    p.add_argument("--input", metavar="V1,V2,...",
                   help="comma-separated numbers tiled to the input width (default "
                        f'"{DEFAULT_INPUT}" for the MLP and zoo models; for an ONNX model, '
                        "tiled over its first input, whose default is seeded random values)")
    p.add_argument("--inputs", metavar="FILE",
                   help="the model's inputs from a file, instead of --input: .npy (one input), "
                        ".npz (arrays named after the inputs; input_0, input_1, ... for zoo "
                        "models), an ONNX TensorProto .pb, or a test_data_set_N folder of "
                        "input_N.pb; shapes and dtypes must match the model's inputs")
    p.add_argument("--batch", type=int, default=None,
                   help=f"batch size (default: {MLP_BATCH} for the MLP, {ZOO_BATCH} for other zoo "
                        "models, the first dim of --inputs when given; for an ONNX model it "
                        "binds a dynamic batch dim and must equal a fixed one)")
    p.add_argument("--hidden", type=int, default=4096, help="MLP hidden width (default 4096)")
    p.add_argument("--layers", type=int, default=1, help="MLP hidden layers (default 1)")
    p.add_argument("--activation", default="gelu",
                   help="MLP activation: gelu (tanh approximation), gelu_exact, relu, swish")
    p.add_argument("--seed", type=int, default=0, help="seed of the deterministic weights")
    p.add_argument("--weights", help="MLP weights: .npz with w0, b0, w1, b1, ...")


def load_model(args: argparse.Namespace) -> LoadedModel:
    """The model the options name, with its inputs: an ONNX file, a torch factory, a zoo model or
    (by default) the seed MLP."""
    if getattr(args, "model_path", None):
        if getattr(args, "torch", None) or args.model != "mlp":
            raise UserInputError("give a model file, --model or --torch, not several")
        return load_onnx_file(args)
    if getattr(args, "torch", None):
        if args.model != "mlp":
            raise UserInputError("give --model or --torch, not both")
        return load_torch(args)
    if args.model != "mlp":
        return load_zoo(args)
    if getattr(args, "size", None):
        raise UserInputError("--size sets a zoo model's sizes; the MLP takes --hidden and --layers")
    return load_mlp(args)
