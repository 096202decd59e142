"""Custom kernels: a registry of alternative kernels for an op, chosen per node at bind time
(registry.py, plan.py), and the kernels mlxa ships: a conv with its activation epilogue (numpy),
prepacked linear layers (torch's oneDNN) and Numba loops (depthwise conv + bias + ReLU6, layer
norm and softmax in one pass, and any fused elementwise chain as one generated loop with
vectorised transcendentals, chain.py)."""

from mlxa.kernels.registry import KERNELS, CustomKernel, Epilogue, Site, register_kernel

__all__ = ["KERNELS", "CustomKernel", "Epilogue", "Site", "register_kernel"]
