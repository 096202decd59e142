"""A conv's Site (kernels/registry.py), as the kernel planner offers it to a predicate: input,
weight and bias of one dtype, which of them are constants, the attributes and the epilogue."""

from __future__ import annotations

import numpy as np

from mlxa.ir.graph import TensorType
from mlxa.kernels.registry import Epilogue, Site


def site(x: tuple[int, ...], w: tuple[int, ...], epilogue: Epilogue | None = None,
         params: tuple[bool, ...] = (False, True, True), dtype: type = np.float32,
         **attrs: object) -> Site:
    ins = (TensorType(x, np.dtype(dtype)), TensorType(w, np.dtype(dtype)),
           TensorType((w[0],), np.dtype(dtype)))
    return Site("conv", ins, (), attrs, params, epilogue)
