"""Conv + activation epilogue in numpy: the conv runs item by item, and its relu or clip runs on
each item's output right after, while it is in cache, as one bound call instead of two nodes.
What oneDNN calls a post-op and ONNX Runtime's FusedConv does; here the conv kernel is the op
table's own (ops/conv.py), so the epilogue is the only change."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np

from mlxa.kernels.registry import Attrs, Site, register_kernel
from mlxa.ops import conv
from mlxa.ops.bound import Step, sequence

ACTIVATIONS = ("relu", "clip")


def activation(epilogue: tuple[str, Attrs], out: np.ndarray) -> Step:
    """relu or clip of `out` in place."""
    op, attrs = epilogue
    if op == "relu":
        return partial(np.maximum, out, out.dtype.type(0), out=out)
    lo, hi = attrs.get("min"), attrs.get("max")
    steps: list[Step] = []
    if lo is not None:
        steps.append(partial(np.maximum, out, out.dtype.type(lo), out=out))
    if hi is not None:
        steps.append(partial(np.minimum, out, out.dtype.type(hi), out=out))
    return sequence(steps)


def takes_activation(site: Site) -> bool:
    e = site.epilogue
    return (e is not None and e.op in ACTIVATIONS and not e.extra
            and site.ins[0].dtype.kind == "f" and len(site.ins[0].shape) == 4)


@register_kernel("conv", name="conv_act", technique="epilogue", applies=takes_activation)
def bind_conv_act(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
                  workspace: np.ndarray | None) -> Step:
    """conv, then its relu or clip per batch item while the item is in cache."""
    x, out = ins[0], outs[0]
    conv_attrs = {k: v for k, v in attrs.items() if k != "epilogue"}
    steps = []
    for n in range(x.shape[0]):
        item = [x[n:n + 1], *ins[1:]]
        steps += [conv.bind(item, out[n:n + 1], conv_attrs, workspace),
                  activation(attrs["epilogue"], out[n])]
    return sequence(steps)
