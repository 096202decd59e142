"""XLA lowerings of the layout ops (ops/layouts.py, conv_cl.py, pool_cl.py): each by its meaning,
the nchw rule of the same op between a relayout to nchw and one back. XLA then picks its own
layouts, so these lowerings say what the ops compute, not how XLA would lay them out."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax.numpy as jnp

from mlxa.ir.graph import Value
from mlxa.ops.table import Attrs

Rule = Callable[[list[Any], Attrs, Sequence[Value]], Any]


def to_nchw(x: Any, layout: str) -> Any:
    if layout == "nhwc":
        return x.transpose(0, 3, 1, 2)
    n, cb, h, w, c = x.shape
    return x.transpose(0, 1, 4, 2, 3).reshape(n, cb * c, h, w)


def from_nchw(y: Any, layout: str, block: int) -> Any:
    if layout == "nhwc":
        return y.transpose(0, 2, 3, 1)
    n, c, h, w = y.shape
    pad = -c % block
    if pad:
        y = jnp.pad(y, ((0, 0), (0, pad), (0, 0), (0, 0)))
    return y.reshape(n, (c + pad) // block, block, h, w).transpose(0, 1, 3, 4, 2)


def layout_rules(base: Mapping[str, Rule]) -> dict[str, Rule]:
    """The layout ops' rules, made from the nchw rules in `base`."""

    def conv_cl(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
        layout = str(attrs["layout"])
        x, w = to_nchw(args[0], layout), args[1].transpose(3, 2, 0, 1)
        return from_nchw(base["conv"]([x, w, *args[2:]], attrs, outs), layout,
                         int(attrs.get("block", 0)))

    def per_layout(op: Callable[[Attrs], str]) -> Rule:
        def rule(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
            layout = str(attrs["layout"])
            y = base[op(attrs)]([to_nchw(args[0], layout), *args[1:]], attrs, outs)
            return from_nchw(y, layout, int(attrs.get("block", 0)))
        return rule

    def global_pool(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
        y = base["global_avg_pool"]([to_nchw(args[0], str(attrs["layout"]))], attrs, outs)
        return y[:, :outs[0].shape[1]]

    def relayout(args: list[Any], attrs: Attrs, outs: Sequence[Value]) -> Any:
        src, dst = str(attrs["src"]), str(attrs["dst"])
        if src == "nchw":
            return from_nchw(args[0], dst, int(attrs.get("block", 0)))
        return to_nchw(args[0], src)[:, :outs[0].shape[1]]

    return {"conv_cl": conv_cl, "relayout": relayout, "global_avg_pool_cl": global_pool,
            "pool_cl": per_layout(lambda a: f"{a['mode']}_pool"),
            "batch_norm_cl": per_layout(lambda a: "batch_norm")}
