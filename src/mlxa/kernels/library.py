"""Every custom kernel mlxa ships, registered on import (in registration order: the first whose
predicate holds binds a node). Libraries are imported only when a kernel is bound."""

from mlxa.kernels import jit, linear  # noqa: F401  (registers the kernels; numba first)
from mlxa.kernels import conv_packed  # noqa: F401, I001  (after jit: depthwise prefers numba)
from mlxa.kernels import epilogue  # noqa: F401, I001  (last: what applies where nothing else did)
