"""One transformer encoder block (Vaswani et al. 2017, post-norm as torch's
nn.TransformerEncoderLayer by default) on an input of shape [batch, seq, d_model]:

    h = layer_norm(x + out_proj(attention(q_proj x, k_proj x, v_proj x)))
    y = layer_norm(h + linear2(gelu(linear1 h)))

Attention is multi-head scaled dot-product attention written out in ops: per-head reshape and
transpose, q @ k^T, a scale, softmax over the keys, @ v, and the heads merged back. Linear layers
are matmul with an [in, out] weight plus a bias add; both nodes carry the layer's name.
"""

from __future__ import annotations

import numpy as np

from mlxa.errors import UserInputError
from mlxa.ir.builder import GraphBuilder
from mlxa.ir.graph import Graph, Value
from mlxa.models.layers import F32, Layers


def _linear(m: Layers, x: Value, out_features: int, name: str) -> Value:
    fan_in = x.shape[-1]
    bound = 1.0 / np.sqrt(fan_in)
    y = m.b.op("matmul", x, m.uniform((fan_in, out_features), bound), name=name)
    return m.b.op("add", y, m.uniform((out_features,), bound), name=name)


def _layer_norm(m: Layers, x: Value, name: str) -> Value:
    d = x.shape[-1]
    scale = m.b.param(m.rng.uniform(0.5, 1.5, d).astype(F32))
    bias = m.b.param(m.rng.uniform(-0.2, 0.2, d).astype(F32))
    return m.b.op("layer_norm", x, scale, bias, name=name, axis=-1, epsilon=1e-5)


def _heads(m: Layers, x: Value, heads: int, perm: tuple[int, ...]) -> Value:
    """[B, S, D] -> [B, S, H, D/H] -> transposed by `perm`."""
    batch, seq, d = x.shape
    split = m.b.op("reshape", x, shape=(batch, seq, heads, d // heads))
    return m.b.op("transpose", split, perm=perm)


def attention(m: Layers, x: Value, heads: int, name: str = "attn") -> Value:
    batch, seq, d = x.shape
    q = _heads(m, _linear(m, x, d, f"{name}.q_proj"), heads, (0, 2, 1, 3))  # [B, H, S, Dh]
    k = _heads(m, _linear(m, x, d, f"{name}.k_proj"), heads, (0, 2, 3, 1))  # [B, H, Dh, S]
    v = _heads(m, _linear(m, x, d, f"{name}.v_proj"), heads, (0, 2, 1, 3))  # [B, H, S, Dh]
    scores = m.b.op("matmul", q, k)
    scores = m.b.op("mul", scores, m.b.param(np.array(1.0 / np.sqrt(d // heads), F32)))
    context = m.b.op("matmul", m.b.op("softmax", scores, axis=-1), v)
    merged = m.b.op("reshape", m.b.op("transpose", context, perm=(0, 2, 1, 3)),
                    shape=(batch, seq, d))
    return _linear(m, merged, d, f"{name}.out_proj")


def transformer(batch: int = 1, seed: int = 0, seq: int = 128, d_model: int = 512,
                heads: int = 8, d_ff: int = 2048) -> Graph:
    if d_model % heads:
        raise UserInputError(f"d_model {d_model} is not a multiple of heads {heads}")
    b = GraphBuilder("transformer")
    m = Layers(b, seed)
    x = b.input((batch, seq, d_model))
    h = _layer_norm(m, b.op("add", x, attention(m, x, heads)), "norm1")
    f = _linear(m, b.op("gelu", _linear(m, h, d_ff, "linear1"), approximate="tanh"),
                d_model, "linear2")
    return b.build(_layer_norm(m, b.op("add", h, f), "norm2"))
