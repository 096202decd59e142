"""ATen converters for the ops real models use beyond the zoo's (comparisons, masks, creation,
index and gather, cumsum, 1-D convolution and pooling, group and weight norm, grouped-query
attention): each module imported through torch.export equals torch eager; errors name the fx
node and the model's source line."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn
from torch.nn import functional as F

from mlxa import from_torch
from mlxa.errors import UnsupportedOpError
from mlxa.runtime.compiled import compile_model
from mlxa.runtime.eager import EagerModel


def assert_matches_torch(module: nn.Module, *inputs: torch.Tensor) -> None:
    graph = from_torch(module.eval(), inputs)
    with torch.no_grad():
        want = module(*inputs).numpy()
    feeds = [t.numpy() for t in inputs]
    for got in (EagerModel(graph)(*feeds)[0], compile_model(graph)(*feeds)[0]):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


class Masks(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(x.shape[-1]).expand(x.shape[0], -1)
        keep = (x > 0) & (pos >= 1) & (pos.le(5)) & (x.ne(0.5)) | (x < -1)
        y = torch.where(keep, x, torch.full_like(x, -2.0))
        y = torch.where(pos.lt(3), y, 0.0) + x.new_ones(x.shape)
        return torch.min(y, torch.cos(x)) + torch.sin(x).cumsum(-1) + pos.type_as(x)


class Indexing(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("rows", torch.tensor([[0, 2], [1, -1]]))
        self.register_buffer("cols", torch.tensor([3, 0]))
        self.register_buffer("pick", torch.tensor([[2, 0, 1, 1], [0, 0, 2, 1]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = x[self.rows]  # one index tensor: a gather
        b = x[self.rows, self.cols]  # two, on adjacent dims: one gather of a flat index
        c = torch.gather(x, 0, self.pick[:, :4])
        return a.sum() + b.sum() + c.sum(0)


class Speech(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 3, stride=2, padding=1)
        self.norm = nn.GroupNorm(3, 6)
        self.pos = nn.utils.parametrizations.weight_norm(nn.Conv1d(6, 6, 3, padding=1,
                                                                   groups=2), dim=2)
        self.legacy = nn.utils.weight_norm(nn.Conv1d(6, 6, 1), dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.gelu(self.norm(self.conv(x)))
        h = self.legacy(self.pos(h))
        return F.adaptive_avg_pool1d(h, 4) + F.adaptive_avg_pool1d(h, 1)


class GroupedQueryAttention(nn.Module):
    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        mask = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)


def test_masks_and_creation_match_torch() -> None:
    assert_matches_torch(Masks(), torch.randn(2, 7))


def test_index_and_gather_match_torch() -> None:
    assert_matches_torch(Indexing(), torch.randn(3, 4))


def test_conv1d_group_norm_weight_norm_and_pooling_match_torch() -> None:
    torch.manual_seed(0)
    assert_matches_torch(Speech(), torch.randn(2, 4, 16))


def test_grouped_query_attention_with_a_boolean_mask_matches_torch() -> None:
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, h, 5, 8, generator=g) for h in (4, 2, 2))
    assert_matches_torch(GroupedQueryAttention(), q, k, v)


def test_a_converter_error_names_the_node_and_its_source_line() -> None:
    class Unrolled(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.adaptive_avg_pool1d(x, 3)  # 8 into 3 windows: not whole windows

    with pytest.raises(UnsupportedOpError) as e:
        from_torch(Unrolled(), torch.randn(1, 2, 8))
    message = str(e.value)
    assert "aten.adaptive_avg_pool1d (adaptive_avg_pool1d" in message
    assert "test_torch_aten_more.py:" in message and "\n" not in message


def test_unsupported_ops_name_a_node_each() -> None:
    class Odd(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sort(x)[0]

    with pytest.raises(UnsupportedOpError, match=r"aten.sort \(sort"):
        from_torch(Odd(), torch.randn(5))


class Decoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
        self.up1d = nn.ConvTranspose1d(6, 2, 4, stride=2)
        self.vol = nn.Conv3d(2, 3, (3, 2, 3), padding=1, stride=(1, 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.up(x)  # (1, 6, 8, 10)
        z = self.up1d(y.flatten(2))  # (1, 2, 162)
        return self.vol(z.reshape(1, 2, 6, 3, 9)).sum() + y.mean()


def test_transposed_and_3d_convolutions_match_torch() -> None:
    torch.manual_seed(0)
    assert_matches_torch(Decoder(), torch.randn(1, 4, 4, 5))
