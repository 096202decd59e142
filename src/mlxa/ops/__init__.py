"""The op table (table.py) and the modules that fill it, one per family of ops."""

from mlxa.ops import (  # noqa: F401  (registers the ops)
    activations,
    along_axis,
    conv,
    conv_cl,
    elementwise,
    fused,
    indexing,
    layouts,
    linalg,
    local_norm,
    logic,
    nn,
    pool,
    pool_cl,
    quant,
    reduce,
    scatter,
    shape,
    window_nd,
)
from mlxa.ops.table import OPS, Cost, OpDef, get_op, infer_types

__all__ = ["OPS", "Cost", "OpDef", "get_op", "infer_types"]
