"""The zoo's registry: model name -> factory(batch, seed, **sizes) -> Graph, with a description
and the default sizes (the factory's keyword arguments, which a caller may override).

Factories are cheap: they draw deterministic weights (ResNet-50's 100 MB in well under a second)
and allocate no activations.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlxa.errors import UserInputError
from mlxa.ir.graph import Graph
from mlxa.models.digits_cnn import digits_cnn
from mlxa.models.mlp import MLPConfig, mlp
from mlxa.models.mobilenet import mobilenet_v2
from mlxa.models.resnet import resnet18, resnet50
from mlxa.models.small_cnn import small_cnn
from mlxa.models.transformer import transformer

Factory = Callable[..., Graph]


@dataclass(frozen=True)
class ZooModel:
    name: str
    factory: Factory
    description: str

    @property
    def sizes(self) -> dict[str, Any]:
        """The size keywords the factory takes and their defaults (batch and seed excluded)."""
        params = inspect.signature(self.factory).parameters.values()
        return {p.name: p.default for p in params if p.name not in ("batch", "seed")}

    def build(self, batch: int = 1, seed: int = 0, **sizes: Any) -> Graph:
        unknown = set(sizes) - set(self.sizes)
        if unknown:
            raise UserInputError(f"model {self.name} has no size {min(unknown)!r}; "
                                 f"its sizes: {', '.join(self.sizes) or 'none'}")
        return self.factory(batch=batch, seed=seed, **sizes)


def mlp_model(batch: int = 1, seed: int = 0, in_features: int = 1024, hidden: int = 4096,
              out_features: int = 1024, layers: int = 1, activation: str = "gelu") -> Graph:
    return mlp(MLPConfig(batch=batch, in_features=in_features, hidden=hidden,
                         out_features=out_features, layers=layers, activation=activation,
                         seed=seed))


ZOO: Mapping[str, ZooModel] = {m.name: m for m in (
    ZooModel("mlp", mlp_model, "MLP, matmul + bias + gelu (the seed model)"),
    ZooModel("transformer", transformer,
             "transformer encoder block: multi-head attention, gelu MLP, layer norms"),
    ZooModel("small_cnn", small_cnn, "3 conv + batch norm + relu, 2 pools, linear head"),
    ZooModel("digits_cnn", digits_cnn,
             "2 conv + relu, a pool, linear head, trained on scikit-learn's digits (8x8)"),
    ZooModel("mobilenet_v2", mobilenet_v2,
             "MobileNetV2: inverted residuals, depthwise convs, relu6"),
    ZooModel("resnet18", resnet18, "ResNet-18: basic residual blocks"),
    ZooModel("resnet50", resnet50, "ResNet-50: bottleneck residual blocks"),
)}


def get_model(name: str) -> ZooModel:
    try:
        return ZOO[name]
    except KeyError:
        raise UserInputError(f"unknown model {name!r}; known: {', '.join(ZOO)}") from None


def build(name: str, batch: int = 1, seed: int = 0, **sizes: Any) -> Graph:
    return get_model(name).build(batch, seed, **sizes)
