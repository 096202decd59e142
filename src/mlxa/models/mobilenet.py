"""MobileNetV2 (Sandler et al. 2018): inverted residual blocks of a 1x1 expansion, a 3x3
depthwise convolution and a 1x1 linear projection, with ReLU6 (clip 0..6) activations.

Node names follow torchvision's module names (features.0.0, features.3.conv.1.0, classifier.1),
so the weights map one to one onto torchvision.models.mobilenet_v2.
"""

from __future__ import annotations

from mlxa.ir.builder import GraphBuilder
from mlxa.ir.graph import Graph, Value
from mlxa.models.layers import Layers

# (expansion t, output channels c, repeats n, first stride s) per stage, from the paper's table 2.
STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
          (6, 160, 3, 2), (6, 320, 1, 1))
RESIDUAL_BN_SCALE = 0.3  # see resnet.py: keeps residual sums from growing


def make_divisible(channels: float, divisor: int = 8) -> int:
    """Round to a multiple of `divisor`, never losing more than 10%."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


def inverted_residual(m: Layers, x: Value, out_channels: int, stride: int, expansion: int,
                      name: str) -> Value:
    in_channels = x.shape[1]
    hidden = round(in_channels * expansion)
    residual = stride == 1 and in_channels == out_channels
    y, k = x, 0
    if expansion != 1:
        y = m.conv_bn(y, hidden, 1, f"{name}.conv.0.0", f"{name}.conv.0.1", act="relu6")
        k = 1
    y = m.conv_bn(y, hidden, 3, f"{name}.conv.{k}.0", f"{name}.conv.{k}.1", stride=stride,
                  group=hidden, act="relu6")
    y = m.conv_bn(y, out_channels, 1, f"{name}.conv.{k + 1}", f"{name}.conv.{k + 2}", act=None,
                  bn_scale=RESIDUAL_BN_SCALE if residual else 1.0)
    return m.b.op("add", x, y) if residual else y


def mobilenet_v2(batch: int = 1, seed: int = 0, image: int = 224, classes: int = 1000,
                 width_mult: float = 1.0) -> Graph:
    b = GraphBuilder("mobilenet_v2")
    m = Layers(b, seed)
    x = b.input((batch, 3, image, image))
    y = m.conv_bn(x, make_divisible(32 * width_mult), 3, "features.0.0", "features.0.1",
                  stride=2, act="relu6")
    k = 1
    for t, c, n, s in STAGES:
        for i in range(n):
            y = inverted_residual(m, y, make_divisible(c * width_mult), s if i == 0 else 1, t,
                                  f"features.{k}")
            k += 1
    last = make_divisible(1280 * max(1.0, width_mult))
    y = m.conv_bn(y, last, 1, f"features.{k}.0", f"features.{k}.1", act="relu6")
    return b.build(m.classifier(y, classes, "classifier.1"))
