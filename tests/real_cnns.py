"""Six classic CNN architectures at small resolution, with weights that look trained, for the
correctness oracle's tests: DenseNet (dense blocks joined by concatenation), Inception v2
(branches with batch norm), ResNet-50 (bottlenecks), ShuffleNet (grouped 1x1 convs, channel
shuffle, depthwise convs), SqueezeNet (fire modules) and VGG-19 (a deep plain stack).

"Trained-looking" (`look_trained`): He-normal weights, small non-zero biases, batch-norm scales
and shifts drawn around 1 and 0, running statistics measured on calibration batches (so they
vary per channel and match the activations), and the classifier scaled so the logits reach the
architecture's `logit_scale`, 15 to 1e7 as real logits do; with 100 classes some logits land
near zero. Everything is seeded: the same module every time.

`export` writes a module to ONNX as model-zoo files are written: torch.onnx.export at opset 17
with every BatchNormalization kept (TrainingMode.PRESERVE; the default EVAL mode folds batch
norms into the convs itself, leaving mlxa's folding nothing to do). Imported only by tests that
have torch.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

CLASSES = 100
OPSET = 17


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1,
            relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU()) if relu else nn.Sequential(*layers)


class Classifier(nn.Module):
    """A network body, global average pooling and a linear head (`head`, scaled last)."""

    def __init__(self, body: nn.Module, width: int) -> None:
        super().__init__()
        self.body = body
        self.head = nn.Linear(width, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(F.adaptive_avg_pool2d(self.body(x), 1), 1))


# -- DenseNet ----------------------------------------------------------------------------------

class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1-BN-ReLU-conv3x3, its `growth` channels concatenated to its input."""

    def __init__(self, cin: int, growth: int) -> None:
        super().__init__()
        self.branch = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(),
                                    nn.Conv2d(cin, 4 * growth, 1, bias=False),
                                    nn.BatchNorm2d(4 * growth), nn.ReLU(),
                                    nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.branch(x)], 1)


def densenet(growth: int = 12, layers: tuple[int, ...] = (4, 4)) -> nn.Module:
    width = 2 * growth
    body: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1, bias=False)]
    for i, n in enumerate(layers):
        for _ in range(n):
            body.append(DenseLayer(width, growth))
            width += growth
        if i < len(layers) - 1:  # transition: halve channels and resolution
            body += [nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, width // 2, 1, bias=False),
                     nn.AvgPool2d(2)]
            width //= 2
    body += [nn.BatchNorm2d(width), nn.ReLU()]
    return Classifier(nn.Sequential(*body), width)


# -- Inception v2 ------------------------------------------------------------------------------

class InceptionA(nn.Module):
    """1x1 | 1x1-3x3 | 1x1-3x3-3x3 | avgpool-1x1, each conv with batch norm, concatenated."""

    def __init__(self, cin: int, c: int) -> None:
        super().__init__()
        self.b1 = conv_bn(cin, c, 1)
        self.b3 = nn.Sequential(conv_bn(cin, c, 1), conv_bn(c, c + c // 2, 3))
        self.b33 = nn.Sequential(conv_bn(cin, c, 1), conv_bn(c, c + c // 2, 3),
                                 conv_bn(c + c // 2, c + c // 2, 3))
        self.pool = nn.Sequential(nn.AvgPool2d(3, 1, 1), conv_bn(cin, c, 1))
        self.width = 5 * c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b3(x), self.b33(x), self.pool(x)], 1)


class InceptionReduce(nn.Module):
    """1x1-3x3/2 | 1x1-3x3-3x3/2 | maxpool/2, concatenated."""

    def __init__(self, cin: int, c: int) -> None:
        super().__init__()
        self.b3 = nn.Sequential(conv_bn(cin, c, 1), conv_bn(c, c, 3, 2))
        self.b33 = nn.Sequential(conv_bn(cin, c, 1), conv_bn(c, c, 3), conv_bn(c, c, 3, 2))
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.width = cin + 2 * c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b3(x), self.b33(x), self.pool(x)], 1)


def inception_v2() -> nn.Module:
    a1 = InceptionA(32, 16)
    red = InceptionReduce(a1.width, 24)
    a2 = InceptionA(red.width, 24)
    body = nn.Sequential(conv_bn(3, 32, 3), a1, red, a2)
    return Classifier(body, a2.width)


# -- ResNet-50 ---------------------------------------------------------------------------------

class Bottleneck(nn.Module):
    """1x1-3x3(stride)-1x1 with batch norms, plus the (projected) shortcut, then ReLU."""

    def __init__(self, cin: int, mid: int, stride: int) -> None:
        super().__init__()
        cout = 4 * mid
        self.branch = nn.Sequential(conv_bn(cin, mid, 1), conv_bn(mid, mid, 3, stride),
                                    conv_bn(mid, cout, 1, relu=False))
        self.shortcut = (nn.Identity() if stride == 1 and cin == cout
                         else conv_bn(cin, cout, 1, stride, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.branch(x) + self.shortcut(x))


def resnet50(blocks: tuple[int, ...] = (2, 2, 2), base: int = 16) -> nn.Module:
    body: list[nn.Module] = [nn.Conv2d(3, base, 7, 2, 3, bias=False), nn.BatchNorm2d(base),
                             nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = base
    for stage, n in enumerate(blocks):
        mid = base * 2 ** stage
        for i in range(n):
            body.append(Bottleneck(cin, mid, 2 if stage and not i else 1))
            cin = 4 * mid
    return Classifier(nn.Sequential(*body), cin)


# -- ShuffleNet --------------------------------------------------------------------------------

def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    n, c, h, w = x.shape
    return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class ShuffleUnit(nn.Module):
    """Grouped 1x1, channel shuffle, depthwise 3x3, grouped 1x1; added to the input (stride 1)
    or concatenated with its 3x3/2 average pool (stride 2)."""

    def __init__(self, cin: int, cout: int, stride: int, groups: int) -> None:
        super().__init__()
        self.stride, self.groups = stride, groups
        branch_out = cout - cin if stride == 2 else cout
        mid = cout // 4
        self.reduce = conv_bn(cin, mid, 1, groups=1 if cin == 24 else groups)
        self.depthwise = conv_bn(mid, mid, 3, stride, groups=mid, relu=False)
        self.expand = conv_bn(mid, branch_out, 1, groups=groups, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(self.depthwise(channel_shuffle(self.reduce(x), self.groups)))
        if self.stride == 2:
            return F.relu(torch.cat([F.avg_pool2d(x, 3, 2, 1), y], 1))
        return F.relu(x + y)


def shufflenet(groups: int = 3, widths: tuple[int, ...] = (60, 120)) -> nn.Module:
    body: list[nn.Module] = [conv_bn(3, 24, 3, 2), nn.MaxPool2d(3, 2, 1)]
    cin = 24
    for cout in widths:
        body += [ShuffleUnit(cin, cout, 2, groups), ShuffleUnit(cout, cout, 1, groups)]
        cin = cout
    return Classifier(nn.Sequential(*body), cin)


# -- SqueezeNet --------------------------------------------------------------------------------

class Fire(nn.Module):
    """squeeze 1x1, then expand 1x1 and 3x3 concatenated, each with ReLU."""

    def __init__(self, cin: int, squeeze: int, expand: int) -> None:
        super().__init__()
        self.squeeze = nn.Sequential(nn.Conv2d(cin, squeeze, 1), nn.ReLU())
        self.e1 = nn.Sequential(nn.Conv2d(squeeze, expand, 1), nn.ReLU())
        self.e3 = nn.Sequential(nn.Conv2d(squeeze, expand, 3, padding=1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.squeeze(x)
        return torch.cat([self.e1(s), self.e3(s)], 1)


class SqueezeNet(nn.Module):
    """SqueezeNet 1.1 at half width; the classifier is a 1x1 conv, ReLU and average pooling."""

    def __init__(self) -> None:
        super().__init__()
        pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, 2), nn.ReLU(), pool, Fire(32, 8, 32), Fire(64, 8, 32), pool,
            Fire(64, 16, 64), Fire(128, 16, 64), pool, Fire(128, 24, 96), Fire(192, 32, 128))
        self.head = nn.Conv2d(256, CLASSES, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.head(F.dropout(self.features(x), 0.5, self.training)))
        return torch.flatten(F.adaptive_avg_pool2d(y, 1), 1)


# -- VGG-19 ------------------------------------------------------------------------------------

class VGG(nn.Module):
    """VGG-19's 16 convs (2, 2, 4, 4, 4 per stage, each pooled) and 3 linears, narrower."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 64, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for width, n in zip(widths, (2, 2, 4, 4, 4)):
            for _ in range(n):
                layers += [nn.Conv2d(cin, width, 3, padding=1), nn.ReLU()]
                cin = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(cin, 128), nn.ReLU(), nn.Dropout(),
                                        nn.Linear(128, 128), nn.ReLU(), nn.Dropout())
        self.head = nn.Linear(128, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.classifier(torch.flatten(self.features(x), 1)))


# -- weights that look trained -----------------------------------------------------------------

@dataclass(frozen=True)
class Architecture:
    """A network, its input shape and the largest |logit| its classifier is scaled to."""

    name: str
    make: Callable[[], nn.Module]
    input_shape: tuple[int, ...]
    logit_scale: float


ARCHITECTURES = {a.name: a for a in (
    Architecture("densenet121", densenet, (2, 3, 32, 32), 4e2),
    Architecture("inception_v2", inception_v2, (2, 3, 32, 32), 15.0),
    Architecture("resnet50", resnet50, (2, 3, 64, 64), 3e3),
    Architecture("shufflenet", shufflenet, (2, 3, 64, 64), 2e5),
    Architecture("squeezenet", SqueezeNet, (2, 3, 64, 64), 60.0),
    Architecture("vgg19", VGG, (2, 3, 32, 32), 1e7),
)}


def look_trained(module: nn.Module, shape: tuple[int, ...], logit_scale: float,
                 gen: torch.Generator) -> nn.Module:
    """He-normal weights, small biases, batch-norm affine terms around (1, 0), running
    statistics measured on two calibration batches, logits scaled to `logit_scale`."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) * 0.8 + 0.6)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.2)
        _calibrate_batch_norms(module, shape, gen)
        logits = module(torch.randn(shape, generator=gen))
        factor = logit_scale / float(logits.abs().max())
        head = module.get_submodule("head")
        assert isinstance(head, nn.Conv2d | nn.Linear)
        head.weight.mul_(factor)
        if head.bias is not None:
            head.bias.mul_(factor)
    return module


def _calibrate_batch_norms(module: nn.Module, shape: tuple[int, ...],
                           gen: torch.Generator) -> None:
    norms = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the calibration batches
    module.train()
    for _ in range(2):
        module(torch.randn((8,) + shape[1:], generator=gen))
    module.eval()


def build(name: str, seed: int = 0) -> tuple[nn.Module, np.ndarray]:
    """The architecture with trained-looking weights, in eval mode, and a float32 input."""
    arch = ARCHITECTURES[name]
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    module = look_trained(arch.make(), arch.input_shape, arch.logit_scale, gen)
    x = torch.randn(arch.input_shape, generator=gen)
    return module, x.numpy()


def export(module: nn.Module, x: np.ndarray, path: Path) -> Path:
    """torch.onnx.export at opset 17 (the TorchScript exporter), input "x", output "logits",
    batch norms kept as nodes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.from_numpy(x),), str(path), input_names=["x"],
                          output_names=["logits"], opset_version=OPSET, dynamo=False,
                          training=torch.onnx.TrainingMode.PRESERVE)
    return path
