"""Conv + activation epilogue in numpy: the conv runs item by item, and its relu or clip runs on
each item's output right after, while it is in cache, as one bound call instead of two nodes.
What oneDNN calls a post-op and ONNX Runtime's FusedConv does; here the conv kernel is the op
table's own (ops/conv.py), so the epilogue is the only change."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlxa.kernels.registry import Attrs, Site, register_kernel
from mlxa.ops import conv, get_op
from mlxa.ops.bound import Step, sequence

ACTIVATIONS = ("relu", "clip")


def activation(epilogue: tuple[str, Attrs], out: np.ndarray) -> Step:
    """relu or clip of `out` in place, through the op's own blocked kernel (ops/elementwise.py:
    neither needs temporaries)."""
    op, attrs = epilogue
    return get_op(op).bound([out], [out], attrs, None)


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
