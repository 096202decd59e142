"""ResNet-18 and ResNet-50 (He et al. 2015, with the stride on the 3x3 convolution as torchvision
has it, "v1.5"), NCHW, in inference form: every convolution followed by a batch norm.

Node names follow torchvision's module names (conv1, layer1.0.conv2, layer2.0.downsample.0, fc),
so the weights map one to one onto torchvision.models.resnet18/50.
"""

from __future__ import annotations

from mlxa.ir.builder import GraphBuilder
from mlxa.ir.graph import Graph, Value
from mlxa.models.layers import Layers

# The last batch norm of every residual branch gets gamma scaled by this, so that the sum of a
# branch and its shortcut does not double the activations' variance block after block.
RESIDUAL_BN_SCALE = 0.3


def basic_block(m: Layers, x: Value, planes: int, stride: int, name: str) -> Value:
    y = m.conv_bn(x, planes, 3, f"{name}.conv1", f"{name}.bn1", stride=stride)
    y = m.conv_bn(y, planes, 3, f"{name}.conv2", f"{name}.bn2", act=None,
                  bn_scale=RESIDUAL_BN_SCALE)
    return m.b.op("relu", m.b.op("add", y, _shortcut(m, x, planes, stride, name)))


def bottleneck(m: Layers, x: Value, planes: int, stride: int, name: str) -> Value:
    y = m.conv_bn(x, planes, 1, f"{name}.conv1", f"{name}.bn1")
    y = m.conv_bn(y, planes, 3, f"{name}.conv2", f"{name}.bn2", stride=stride)
    y = m.conv_bn(y, 4 * planes, 1, f"{name}.conv3", f"{name}.bn3", act=None,
                  bn_scale=RESIDUAL_BN_SCALE)
    return m.b.op("relu", m.b.op("add", y, _shortcut(m, x, 4 * planes, stride, name)))


def _shortcut(m: Layers, x: Value, channels: int, stride: int, name: str) -> Value:
    if stride == 1 and x.shape[1] == channels:
        return x
    return m.conv_bn(x, channels, 1, f"{name}.downsample.0", f"{name}.downsample.1",
                     stride=stride, act=None)


def resnet(blocks: tuple[int, ...], bottlenecks: bool, batch: int, seed: int, image: int,
           classes: int, width: int, name: str) -> Graph:
    b = GraphBuilder(name)
    m = Layers(b, seed)
    x = b.input((batch, 3, image, image))
    y = m.conv_bn(x, width, 7, "conv1", "bn1", stride=2)
    y = b.op("max_pool", y, name="maxpool", kernel_shape=(3, 3), strides=(2, 2),
             pads=(1, 1, 1, 1), dilations=(1, 1), ceil_mode=0, count_include_pad=0)
    block = bottleneck if bottlenecks else basic_block
    for stage, n in enumerate(blocks):
        planes = width * 2 ** stage
        for i in range(n):
            stride = 2 if stage > 0 and i == 0 else 1
            y = block(m, y, planes, stride, f"layer{stage + 1}.{i}")
    return b.build(m.classifier(y, classes, "fc"))


def resnet18(batch: int = 1, seed: int = 0, image: int = 224, classes: int = 1000,
             width: int = 64) -> Graph:
    return resnet((2, 2, 2, 2), False, batch, seed, image, classes, width, "resnet18")


def resnet50(batch: int = 1, seed: int = 0, image: int = 224, classes: int = 1000,
             width: int = 64) -> Graph:
    return resnet((3, 4, 6, 3), True, batch, seed, image, classes, width, "resnet50")
