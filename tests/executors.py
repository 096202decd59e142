"""The two executors' outputs, copied (the compiled executor's buffers are overwritten by its next
call): one place for the tests that compare them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlxa.ir.graph import Graph
from mlxa.runtime.compiled import compile_model
from mlxa.runtime.eager import EagerModel


def compiled_outputs(graph: Graph, inputs: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    return tuple(np.array(a) for a in compile_model(graph)(*inputs))


def eager_outputs(graph: Graph, inputs: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    return tuple(np.array(a) for a in EagerModel(graph)(*inputs))
