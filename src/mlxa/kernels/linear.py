"""Prepacked linear layers: the weight reordered once into the blocked layout of oneDNN's matrix
product (through torch, when installed), as ONNX Runtime's MLAS prepacks its GEMM weights at
session start. numpy's BLAS packs B into its panel layout on every call.

The kernel applies to a matmul or gemm whose weight is a constant 2-D parameter, and takes a bias
add after a matmul, or the fused bias + tanh-GELU chain (oneDNN's gelu_tanh post-op), as its
epilogue. Whether packing pays depends on the shape and the machine, so binding measures it
(kernels/trial.py): the packed product and the numpy one (plus its epilogue) take turns on the
bound arrays and the faster is kept; `variant` on the bound call says which. torch returns a
fresh tensor per call, copied into the planned output (M x N floats, small beside the product);
that tensor is torch's allocation, outside mlxa's counted ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from mlxa.kernels.registry import Attrs, Site, register_kernel
from mlxa.kernels.trial import Bound, keep_faster
from mlxa.ops.bound import Step, sequence

GELU_CHAIN = (("add", (0, 1), ()), ("gelu", (-1,), (("approximate", "tanh"),)))


def _is_bias(site: Site, n: int) -> bool:
    """The epilogue is a bias add, or the fused bias + tanh-GELU chain (oneDNN's gelu_tanh
    post-op), with a bias of the output's width."""
    e = site.epilogue
    chain = e is not None and (e.op == "add" or (e.op == "fused"
                                                  and e.attrs.get("steps") == GELU_CHAIN))
    return (e is not None and chain and len(e.extra) == 1
            and e.extra[0].shape in ((n,), (1, n)) and e.extra[0].dtype == site.ins[0].dtype)


def matmul_applies(site: Site) -> bool:
    a, b = site.ins
    if not (site.params[1] and len(b.shape) == 2 and len(a.shape) >= 2
            and a.dtype == np.float32 and b.dtype == np.float32):
        return False
    return site.epilogue is None or _is_bias(site, b.shape[1])


def gemm_applies(site: Site) -> bool:
    a, b = site.ins[:2]
    plain = (site.attrs.get("transA", 0) == 0 and site.attrs.get("alpha", 1.0) == 1.0
             and site.attrs.get("beta", 1.0) == 1.0)
    n = b.shape[0] if site.attrs.get("transB", 0) else b.shape[1]
    bias_ok = len(site.ins) == 2 or (site.params[2] and site.ins[2].shape in ((n,), (1, n)))
    return (plain and site.params[1] and bias_ok and site.epilogue is None
            and a.dtype == np.float32 and b.dtype == np.float32)


@register_kernel("matmul", name="linear_packed", technique="prepack", applies=matmul_applies,
                 requires=("torch",))
def bind_matmul(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
                workspace: np.ndarray | None) -> Step:
    """x @ W (+ bias) with W packed once for oneDNN, where that beats numpy's BLAS."""
    x, w = ins[0], ins[1]
    bias = ins[2].reshape(-1) if len(ins) == 3 else None
    return _bind(x, w, bias, outs[0], attrs.get("epilogue"))


@register_kernel("gemm", name="gemm_packed", technique="prepack", applies=gemm_applies,
                 requires=("torch",))
def bind_gemm(ins: Sequence[np.ndarray], outs: Sequence[np.ndarray], attrs: Attrs,
              workspace: np.ndarray | None) -> Step:
    """A @ B' + C with B packed once for oneDNN, where that beats numpy's BLAS."""
    w, bias = gemm_operands(ins, attrs)
    return _bind(ins[0], w, bias, outs[0])


def gemm_operands(ins: Sequence[np.ndarray], attrs: Attrs) -> tuple[np.ndarray,
                                                                     np.ndarray | None]:
    """A gemm's weight as [K, N] (B, or B transposed with transB) and its bias as [N] (C
    flattened), or None without one."""
    w = ins[1].T if attrs.get("transB", 0) else ins[1]
    return w, (ins[2].reshape(-1) if len(ins) == 3 else None)


def _bind(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, out: np.ndarray,
          epilogue: tuple[str, Attrs] | None = None) -> Bound:
    k, n = w.shape
    x2, o2 = x.reshape(-1, k), out.reshape(-1, n)
    gelu = epilogue is not None and epilogue[0] == "fused"
    plain = _numpy(x2, w, bias, o2, epilogue if gelu else None)
    packed = _packed(x2, w, bias, o2, "gelu" if gelu else "none")
    return keep_faster(packed, "onednn_packed", plain)


def _numpy(x2: np.ndarray, w: np.ndarray, bias: np.ndarray | None, o2: np.ndarray,
           chain: tuple[str, Attrs] | None) -> Step:
    """The product, then the bias add, or the fused chain's own blocked kernel (its temporaries
    in a workspace allocated here, once)."""
    product = partial(np.matmul, x2, w, out=o2)
    if bias is None:
        return product
    if chain is None:
        return sequence([product, partial(np.add, o2, bias, out=o2)])
    from mlxa.ops import get_op
    from mlxa.ops.blocks import block_elements_of

    fused = get_op("fused")
    nbytes = fused.tmps(chain[1]) * block_elements_of(o2.shape) * o2.itemsize
    workspace = np.empty(nbytes, np.uint8)
    return sequence([product, fused.bound([o2, bias], [o2], chain[1], workspace)])


def _packed(x2: np.ndarray, w: np.ndarray, bias: np.ndarray | None, o2: np.ndarray,
            post_op: str = "none") -> Step:
    import torch

    wt = torch.from_numpy(np.array(w.T, order="C"))  # (N, K), as torch's linear takes it
    packed = torch.ops.mkldnn._reorder_linear_weight(wt, x2.shape[0])
    tb = None if bias is None else torch.from_numpy(np.array(bias, order="C"))
    tx, to = torch.from_numpy(x2), torch.from_numpy(o2)  # share the bound arrays' memory
    linear: Callable[..., Any] = torch.ops.mkldnn._linear_pointwise
    algorithm = "tanh" if post_op == "gelu" else ""
    return partial(_run_packed, linear, tx, packed, tb, to, post_op, algorithm)


def _run_packed(linear: Callable[..., Any], tx: Any, packed: Any, tb: Any, to: Any,
                post_op: str, algorithm: str) -> None:
    to.copy_(linear(tx, packed, tb, post_op, [], algorithm))
