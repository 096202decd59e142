"""A small convolutional classifier for MNIST-sized images (1x28x28 by default):

    conv1(+bias) bn relu, conv2 bn relu, max_pool 2, conv3 bn relu, avg_pool 2, flatten, fc

Small enough to run in milliseconds, and it uses both pooling ops and a flatten + linear head.
"""

from __future__ import annotations

from mlxa.ir.builder import GraphBuilder
from mlxa.ir.graph import Graph
from mlxa.models.layers import Layers


def small_cnn(batch: int = 1, seed: int = 0, image: int = 28, in_channels: int = 1,
              width: int = 32, classes: int = 10) -> Graph:
    b = GraphBuilder("small_cnn")
    m = Layers(b, seed)
    x = b.input((batch, in_channels, image, image))
    y = m.act(m.batch_norm(m.conv(x, width, 3, "conv1", bias=True), "bn1"), "relu")
    y = m.conv_bn(y, width, 3, "conv2", "bn2")
    y = b.op("max_pool", y, name="pool1", kernel_shape=(2, 2), strides=(2, 2),
             pads=(0, 0, 0, 0), dilations=(1, 1), ceil_mode=0, count_include_pad=0)
    y = m.conv_bn(y, 2 * width, 3, "conv3", "bn3")
    y = b.op("avg_pool", y, name="pool2", kernel_shape=(2, 2), strides=(2, 2),
             pads=(0, 0, 0, 0), dilations=(1, 1), ceil_mode=0, count_include_pad=0)
    y = b.op("flatten", y, axis=1)
    return b.build(m.linear(y, classes, "fc"))
