"""Conv + activation epilogue in numpy: the conv runs item by item, and its relu or clip runs on
each item's output right after, while it is in cache, as one bound call instead of two nodes.
What oneDNN calls a post-op and ONNX Runtime's FusedConv does; here the conv kernel is the op
table's own (ops/conv.py), so the epilogue is the only change."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlxa.kernels.chain import bind_chain
from mlxa.kernels.registry import Attrs, Site, in_use, register_kernel
from mlxa.ops import conv, get_op
from mlxa.ops.bound import Step, sequence
from mlxa.ops.fused import make_step

ACTIVATIONS = ("relu", "clip")


def activation(epilogue: tuple[str, Attrs], out: np.ndarray) -> Step:
    """relu or clip of `out` in place, through the op's own blocked kernel (ops/elementwise.py:
    neither needs temporaries)."""
    op, attrs = epilogue
    return get_op(op).bound([out], [out], attrs, None)


def clamp(attrs: Attrs) -> tuple[float, float]:
    """(lo, hi) of a kernel's relu or clip epilogue in `attrs` (-inf, inf without one): what a
    kernel that applies it in its store clamps to."""
    if "epilogue" not in attrs:
        return -np.inf, np.inf
    op, ea = attrs["epilogue"]
    if op == "relu":
        return 0.0, np.inf
    lo, hi = ea.get("min"), ea.get("max")
    return (-np.inf if lo is None else float(lo)), (np.inf if hi is None else float(hi))


def table_conv(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
               workspace: np.ndarray | None) -> Step:
    """The op table's conv of a node as a kernel got it: with its relu/clip epilogue
    (bind_conv_act) when it took one. What a kernel's trial runs against."""
    if "epilogue" in attrs:
        return bind_conv_act(ins, outs, attrs, workspace)
    return conv.bind(ins, outs[0], attrs, workspace)


def takes_activation(site: Site) -> bool:
    e = site.epilogue
    return (e is not None and e.op in ACTIVATIONS and not e.extra
            and site.ins[0].dtype.kind == "f" and len(site.ins[0].shape) == 4)


@register_kernel("conv", name="conv_act", technique="epilogue", applies=takes_activation)
def bind_conv_act(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
                  workspace: np.ndarray | None) -> Step:
    """conv, then its relu or clip per batch item while the item is in cache. With numba, the
    conv's bias add and the activation are one generated loop (kernels/chain.py): one pass over
    the output instead of two."""
    x, out = ins[0], outs[0]
    conv_attrs = {k: v for k, v in attrs.items() if k != "epilogue"}
    chain = _bias_act_chain(attrs["epilogue"], len(ins) == 3 and out.dtype == np.float32)
    bias = ins[2].reshape(1, -1, *(1,) * (out.ndim - 2)) if len(ins) == 3 else None
    steps = []
    for n in range(x.shape[0]):
        if chain is not None and bias is not None:
            steps += [conv.bind([x[n:n + 1], ins[1]], out[n:n + 1], conv_attrs, workspace),
                      bind_chain([out[n:n + 1], bias], [out[n:n + 1]], chain, None)]
            continue
        item = [x[n:n + 1], *ins[1:]]
        steps += [conv.bind(item, out[n:n + 1], conv_attrs, workspace),
                  activation(attrs["epilogue"], out[n])]
    return sequence(steps)


def _bias_act_chain(epilogue: tuple[str, Attrs], has_bias: bool) -> Attrs | None:
    """The fused group's attributes of bias add > activation, where the chain loop can run it."""
    if not (has_bias and in_use("chain_loop")):
        return None
    op, attrs = epilogue
    return {"steps": (make_step("add", (0, 1), {}), make_step(op, (-1,), attrs))}
