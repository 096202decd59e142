"""Convolutions through oneDNN with prepacked weights (torch's mkldnn ops, when installed): the
weight reordered once into oneDNN's blocked layout for this input shape, the bias and a relu or
clip epilogue applied as oneDNN post-ops. oneDNN reorders the NCHW activations to its blocked
layout on every call, so whether this beats the op table's conv depends on the shape: binding
runs both in turns (kernels/trial.py) and keeps the faster; `variant` on the bound call says
which. The result is a fresh torch tensor copied into the planned output."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from mlxa.kernels.registry import Attrs, Site, register_kernel
from mlxa.kernels.trial import keep_faster
from mlxa.ops.bound import Step


def _activation_ok(op: str, attrs: Attrs) -> bool:
    """oneDNN's post-ops here: relu, or hardtanh for a clip with both bounds."""
    return op == "relu" or (op == "clip" and attrs.get("min") is not None
                            and attrs.get("max") is not None)


def conv_applies(site: Site) -> bool:
    x, w, e = site.ins[0], site.ins[1], site.epilogue
    act = e is None or (not e.extra and _activation_ok(e.op, e.attrs))
    return (len(x.shape) == 4 and x.dtype == np.float32 and all(site.params[1:])
            and act and w.dtype == np.float32 and packed_takes(w.shape, site.attrs))


def packed_takes(w_shape: tuple[int, ...], attrs: Attrs) -> bool:
    """Whether a float32 NCHW conv with constant weights, as bound (`attrs` may hold the
    epilogue taken), fits this kernel: a 4-D weight, symmetric pads, relu, clip with both
    bounds or no epilogue. For a kernel that binds this one as its default."""
    pads = tuple(attrs.get("pads", (0, 0, 0, 0)))
    act = "epilogue" not in attrs or _activation_ok(*attrs["epilogue"])
    return len(w_shape) == 4 and pads[:2] == pads[2:] and act


def _post_op(epilogue: tuple[str, Attrs] | None) -> tuple[str, list[float]]:
    if epilogue is None:
        return "none", []
    op, attrs = epilogue
    return ("relu", []) if op == "relu" else ("hardtanh", [float(attrs["min"]),
                                                           float(attrs["max"])])


@register_kernel("conv", name="conv_packed", technique="prepack", applies=conv_applies,
                 requires=("torch",))
def bind_conv_packed(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
                     workspace: np.ndarray | None) -> Step:
    """conv (+ bias, + relu/clip) by oneDNN with its weight packed once, where that pays."""
    import torch

    from mlxa.kernels.epilogue import table_conv

    x, w, out = ins[0], ins[1], outs[0]
    pads = list(attrs.get("pads", (0, 0, 0, 0))[:2])
    strides = list(attrs.get("strides", (1, 1)))
    dilations = list(attrs.get("dilations", (1, 1)))
    group = int(attrs.get("group", 1))
    packed = torch.ops.mkldnn._reorder_convolution_weight(
        torch.from_numpy(np.array(w)), pads, strides, dilations, group, list(x.shape))
    bias = torch.from_numpy(np.array(ins[2])) if len(ins) == 3 else None
    post, scalars = _post_op(attrs.get("epilogue"))
    run = partial(_run, torch.ops.mkldnn._convolution_pointwise, torch.from_numpy(x), packed,
                  bias, pads, strides, dilations, group, post, scalars, torch.from_numpy(out))
    return keep_faster(run, "onednn_packed", table_conv(ins, outs, attrs, workspace))


def _run(op: Callable[..., Any], tx: Any, packed: Any, bias: Any, pads: list[int],
         strides: list[int], dilations: list[int], group: int, post: str,
         scalars: list[float], to: Any) -> None:
    to.copy_(op(tx, packed, bias, pads, strides, dilations, group, post, scalars, ""))
