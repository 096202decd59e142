"""The op table (table.py) and the modules that fill it, one per family of ops."""

from mlxa.ops import (  # noqa: F401  (registers the ops)
    activations,
    along_axis,
    conv,
    elementwise,
    fused,
    indexing,
    linalg,
    local_norm,
    logic,
    nn,
    pool,
    quant,
    reduce,
    shape,
)
from mlxa.ops.table import OPS, Cost, OpDef, get_op, infer_types

__all__ = ["OPS", "Cost", "OpDef", "get_op", "infer_types"]
