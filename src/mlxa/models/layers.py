"""Layers the zoo's networks share, built in the IR with deterministic weights.

Weights come from one seeded generator, drawn in program order, so a model is a pure function of
its sizes and seed. Convolutions use He-normal weights (std sqrt(2 / fan_in)), linear layers
torch's uniform(+-1/sqrt(fan_in)). Batch-norm statistics are deliberately not the identity
(mean != 0, var != 1, scale != 1, bias != 0), so folding them into a convolution changes numbers.

Nodes are named after the PyTorch module that would hold their weights ("layer1.0.conv1"), so a
test can copy the weights into an equivalent torch module by name.
"""

from __future__ import annotations

import numpy as np

from mlxa.ir.builder import GraphBuilder
from mlxa.ir.graph import Value

F32 = np.float32


class Layers:
    """A GraphBuilder plus the seeded generator that draws its weights."""

    def __init__(self, b: GraphBuilder, seed: int) -> None:
        self.b = b
        self.rng = np.random.default_rng(seed)

    def uniform(self, shape: tuple[int, ...], bound: float) -> Value:
        return self.b.param(self.rng.uniform(-bound, bound, shape).astype(F32))

    def conv(self, x: Value, out_channels: int, kernel: int, name: str, stride: int = 1,
             group: int = 1, bias: bool = False) -> Value:
        """A square convolution with 'same' padding for odd kernels (NCHW, OIHW weights)."""
        in_per_group = x.shape[1] // group
        fan_in = in_per_group * kernel * kernel
        w = self.rng.standard_normal((out_channels, in_per_group, kernel, kernel), dtype=F32)
        w *= np.sqrt(2.0 / fan_in)
        inputs = [x, self.b.param(w)]
        if bias:
            inputs.append(self.uniform((out_channels,), 1.0 / np.sqrt(fan_in)))
        p = kernel // 2
        return self.b.op("conv", *inputs, name=name, strides=(stride, stride), pads=(p, p, p, p),
                         dilations=(1, 1), group=group)

    def batch_norm(self, x: Value, name: str, scale: float = 1.0) -> Value:
        """Inference batch norm with non-trivial statistics; `scale` shrinks gamma (used on the
        last norm of a residual branch so that activations do not grow block after block)."""
        c = x.shape[1]
        gamma = scale * self.rng.uniform(0.5, 1.5, c)
        beta = self.rng.uniform(-0.2, 0.2, c)
        mean = self.rng.uniform(-0.2, 0.2, c)
        var = self.rng.uniform(0.5, 2.0, c)
        params = [self.b.param(a.astype(F32)) for a in (gamma, beta, mean, var)]
        return self.b.op("batch_norm", x, *params, name=name, epsilon=1e-5)

    def act(self, x: Value, kind: str | None, name: str = "") -> Value:
        if kind is None:
            return x
        if kind == "relu6":
            return self.b.op("clip", x, name=name, min=0.0, max=6.0)
        return self.b.op(kind, x, name=name)

    def conv_bn(self, x: Value, out_channels: int, kernel: int, conv: str, bn: str,
                stride: int = 1, group: int = 1, act: str | None = "relu",
                bn_scale: float = 1.0) -> Value:
        y = self.conv(x, out_channels, kernel, conv, stride=stride, group=group)
        return self.act(self.batch_norm(y, bn, scale=bn_scale), act)

    def linear(self, x: Value, out_features: int, name: str) -> Value:
        """torch.nn.Linear on a 2-D input: gemm with an [out, in] weight (transB)."""
        fan_in = x.shape[1]
        bound = 1.0 / np.sqrt(fan_in)
        w = self.uniform((out_features, fan_in), bound)
        bias = self.uniform((out_features,), bound)
        return self.b.op("gemm", x, w, bias, name=name, transB=1)

    def classifier(self, x: Value, classes: int, name: str = "fc") -> Value:
        """Global average pool, flatten, linear: the head of the image classifiers."""
        pooled = self.b.op("global_avg_pool", x)
        return self.linear(self.b.op("flatten", pooled, axis=1), classes, name)
