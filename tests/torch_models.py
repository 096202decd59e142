"""PyTorch definitions of the zoo's networks, written independently of the IR builders, and the
weight copy from a zoo graph into them (by node name: the zoo names nodes after the module that
holds their weights). Imported only by tests that have torch."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mlxa.ir.graph import Graph
from mlxa.models.mobilenet import STAGES, make_divisible

# -- weights ------------------------------------------------------------------------------------

PARAM_NAMES = {"conv": ("weight", "bias"), "gemm": ("weight", "bias"),
               "batch_norm": ("weight", "bias", "running_mean", "running_var"),
               "layer_norm": ("weight", "bias")}


def state_dict_of(graph: Graph) -> dict[str, torch.Tensor]:
    """torch state-dict entries for every named node's parameters. A matmul's [in, out] weight is
    transposed to Linear's [out, in]; a named add holds the bias of the linear of the same name."""
    entries: dict[str, torch.Tensor] = {}
    for node in graph.nodes:
        if not node.name:
            continue
        params = [(k, graph.params[v]) for k, v in enumerate(node.inputs) if v in graph.params]
        if node.op == "matmul":
            entries[f"{node.name}.weight"] = torch.from_numpy(params[0][1].T.copy())
        elif node.op == "add":
            entries[f"{node.name}.bias"] = torch.from_numpy(params[0][1].copy())
        elif node.op in PARAM_NAMES:
            for k, array in params:
                entries[f"{node.name}.{PARAM_NAMES[node.op][k - 1]}"] = \
                    torch.from_numpy(array.copy())
    return entries


def load_from_graph(module: nn.Module, graph: Graph) -> nn.Module:
    """Copy the graph's weights into `module` (every one of its parameters and statistics)."""
    missing, unexpected = module.load_state_dict(state_dict_of(graph), strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    assert not missing and not unexpected, (missing, unexpected)
    return module.eval()


# -- networks -----------------------------------------------------------------------------------

class MLP(nn.Module):
    """The seed MLP with weights in the IR's [in, out] layout, copied by position."""

    def __init__(self, graph: Graph) -> None:
        super().__init__()
        arrays = [torch.from_numpy(a.copy()) for a in graph.params.values()]
        self.weights = nn.ParameterList(arrays[0::2])
        self.biases = nn.ParameterList(arrays[1::2])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = len(self.weights)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = x @ w + b
            if i < n - 1:
                x = F.gelu(x, approximate="tanh")
        return x


class Encoder(nn.Module):
    def __init__(self, d_model: int, heads: int, d_ff: int) -> None:
        super().__init__()
        self.heads = heads
        self.attn = nn.Module()
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            self.attn.add_module(name, nn.Linear(d_model, d_model))
        self.norm1 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = (getattr(self.attn, n)(x).view(b, s, self.heads, d // self.heads).transpose(1, 2)
                   for n in ("q_proj", "k_proj", "v_proj"))
        scores = q @ k.transpose(-2, -1) / (d // self.heads) ** 0.5
        context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, s, d)
        h = self.norm1(x + self.attn.out_proj(context))
        return self.norm2(h + self.linear2(F.gelu(self.linear1(h), approximate="tanh")))


class SmallCNN(nn.Module):
    def __init__(self, image: int = 28, in_channels: int = 1, width: int = 32,
                 classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.pool1 = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(width, 2 * width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(2 * width)
        self.pool2 = nn.AvgPool2d(2)
        self.fc = nn.Linear(2 * width * (image // 4) ** 2, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.pool1(F.relu(self.bn2(self.conv2(x))))
        x = self.pool2(F.relu(self.bn3(self.conv3(x))))
        return self.fc(torch.flatten(x, 1))


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1,
            act: type[nn.Module] | None = nn.ReLU) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, *([act()] if act else []))


class Residual(nn.Module):
    """A ResNet block: basic (two 3x3) or bottleneck (1x1, 3x3, 1x1 x4), stride on the 3x3."""

    def __init__(self, cin: int, planes: int, stride: int, bottleneck: bool) -> None:
        super().__init__()
        cout = 4 * planes if bottleneck else planes
        shapes = ([(cin, planes, 1, 1), (planes, planes, 3, stride), (planes, cout, 1, 1)]
                  if bottleneck else [(cin, planes, 3, stride), (planes, cout, 3, 1)])
        for i, (a, b, k, s) in enumerate(shapes, 1):
            self.add_module(f"conv{i}", nn.Conv2d(a, b, k, s, k // 2, bias=False))
            self.add_module(f"bn{i}", nn.BatchNorm2d(b))
        self.n = len(shapes)
        self.downsample = (conv_bn(cin, cout, 1, stride, act=None)
                           if stride != 1 or cin != cout else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        for i in range(1, self.n + 1):
            y = getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(y))
            y = F.relu(y) if i < self.n else y
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    def __init__(self, blocks: tuple[int, ...], bottleneck: bool, classes: int = 1000,
                 width: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = width
        for stage, n in enumerate(blocks):
            planes = width * 2 ** stage
            layer = []
            for i in range(n):
                layer.append(Residual(cin, planes, 2 if stage and not i else 1, bottleneck))
                cin = 4 * planes if bottleneck else planes
            self.add_module(f"layer{stage + 1}", nn.Sequential(*layer))
        self.stages = len(blocks)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        for stage in range(1, self.stages + 1):
            x = getattr(self, f"layer{stage}")(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = round(cin * expansion)
        self.residual = stride == 1 and cin == cout
        layers = [conv_bn(cin, hidden, 1, act=nn.ReLU6)] if expansion != 1 else []
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, classes: int = 1000, width_mult: float = 1.0) -> None:
        super().__init__()
        cin = make_divisible(32 * width_mult)
        features: list[nn.Module] = [conv_bn(3, cin, 3, 2, act=nn.ReLU6)]
        for t, c, n, s in STAGES:
            cout = make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        last = make_divisible(1280 * max(1.0, width_mult))
        features.append(conv_bn(cin, last, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


class DigitsCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc = nn.Linear(32 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        return self.fc(torch.flatten(F.relu(self.conv2(x)), 1))


def torch_twin(name: str, graph: Graph, sizes: dict) -> nn.Module:
    """The torch network equivalent to zoo model `name` built with `sizes`, weights copied."""
    s = dict(sizes)
    if name == "mlp":
        return MLP(graph).eval()
    if name == "transformer":
        module: nn.Module = Encoder(s.get("d_model", 512), s.get("heads", 8), s.get("d_ff", 2048))
    elif name == "small_cnn":
        module = SmallCNN(**s)
    elif name == "digits_cnn":
        module = DigitsCNN()
    elif name in ("resnet18", "resnet50"):
        blocks = (2, 2, 2, 2) if name == "resnet18" else (3, 4, 6, 3)
        module = ResNet(blocks, name == "resnet50", s.get("classes", 1000), s.get("width", 64))
    elif name == "mobilenet_v2":
        module = MobileNetV2(s.get("classes", 1000), s.get("width_mult", 1.0))
    else:
        raise KeyError(name)
    return load_from_graph(module, graph)


def example_input(graph: Graph, seed: int = 0) -> np.ndarray:
    (x,) = graph.inputs
    return np.random.default_rng(seed).standard_normal(x.shape).astype(np.float32)
