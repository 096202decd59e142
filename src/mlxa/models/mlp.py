"""The seed model: an MLP, 1024 -> 4096 -> 1024 by default, bias + activation after every hidden
matrix product. Weights are deterministic in `seed` (uniform in +-1/sqrt(fan_in), as torch's
Linear initialises) or loaded from an .npz file with arrays w0, b0, w1, b1, ... of shapes
(fan_in, fan_out) and (fan_out,)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlxa.errors import UserInputError
from mlxa.ir.graph import Graph, GraphBuilder

ACTIVATIONS = {
    "gelu": ("gelu", {"approximate": "tanh"}),
    "gelu_exact": ("gelu", {"approximate": "none"}),
    "relu": ("relu", {}),
    "swish": ("silu", {}),
}


@dataclass(frozen=True)
class MLPConfig:
    batch: int = 32
    in_features: int = 1024
    hidden: int = 4096
    out_features: int = 1024
    layers: int = 1  # hidden layers
    activation: str = "gelu"
    seed: int = 0

    @property
    def widths(self) -> list[int]:
        return [self.in_features] + [self.hidden] * self.layers + [self.out_features]

    def describe(self) -> str:
        return "MLP (" + " -> ".join(map(str, self.widths)) + ")"


def mlp_weights(config: MLPConfig) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(config.seed)
    weights = {}
    for i, (fan_in, fan_out) in enumerate(zip(config.widths, config.widths[1:])):
        bound = 1.0 / np.sqrt(fan_in)
        weights[f"w{i}"] = rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32)
        weights[f"b{i}"] = rng.uniform(-bound, bound, (fan_out,)).astype(np.float32)
    return weights


def load_weights(path: str | Path, config: MLPConfig) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            loaded = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise UserInputError(f"weights file {str(path)!r} does not exist") from None
    except (OSError, ValueError) as e:
        raise UserInputError(f"weights file {str(path)!r} is not a readable .npz: {e}") from None
    expected = weight_shapes(config)
    for key, shape in expected.items():
        if key not in loaded:
            raise UserInputError(f"weights file {str(path)!r} lacks array {key!r} {list(shape)}")
        if loaded[key].shape != shape:
            raise UserInputError(f"weights file {str(path)!r}: {key} has shape "
                                 f"{list(loaded[key].shape)}, the model needs {list(shape)}")
        if not np.issubdtype(loaded[key].dtype, np.floating):
            raise UserInputError(f"weights file {str(path)!r}: {key} is {loaded[key].dtype}, "
                                 "not floating point")
    return {k: loaded[k].astype(np.float32) for k in expected}


def weight_shapes(config: MLPConfig) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for i, (fan_in, fan_out) in enumerate(zip(config.widths, config.widths[1:])):
        shapes[f"w{i}"] = (fan_in, fan_out)
        shapes[f"b{i}"] = (fan_out,)
    return shapes


def mlp(config: MLPConfig = MLPConfig(), weights: Mapping[str, np.ndarray] | None = None) -> Graph:
    if config.activation not in ACTIVATIONS:
        raise UserInputError(f"unknown activation {config.activation!r}; "
                             f"choose from {', '.join(ACTIVATIONS)}")
    weights = mlp_weights(config) if weights is None else weights
    act, act_attrs = ACTIVATIONS[config.activation]
    b = GraphBuilder("mlp")
    h = b.input((config.batch, config.in_features))
    n = len(config.widths) - 1
    for i in range(n):
        h = b.op("matmul", h, b.param(weights[f"w{i}"]))
        h = b.op("add", h, b.param(weights[f"b{i}"]))
        if i < n - 1:
            h = b.op(act, h, **act_attrs)
    return b.build(h)


def estimate_nbytes(config: MLPConfig) -> int:
    """Memory an analysis run needs, without building anything: parameters, plus every eager
    activation alive at once (an upper bound), plus the compiled plan's buffers."""
    itemsize = np.dtype(np.float32).itemsize
    params = sum(int(np.prod(s)) for s in weight_shapes(config).values()) * itemsize
    activations = config.batch * sum(config.widths) * itemsize
    return params + 6 * activations
