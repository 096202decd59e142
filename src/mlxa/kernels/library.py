"""Every custom kernel mlxa ships, registered on import (registry.enabled orders them by
technique, so the order of these imports does not matter). Libraries are imported only when a
kernel is bound."""

from mlxa.kernels import (  # noqa: F401  (registers the kernels)
    chain,
    conv_direct,
    conv_gemm,
    conv_packed,
    depthwise_ir,
    epilogue,
    gemv_ir,
    jit,
    linear,
    pool,
    pool_ir,
)
