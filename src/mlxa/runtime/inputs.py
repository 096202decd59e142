"""Checking the arrays handed to an executor against the graph's input types."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlxa.errors import UserInputError
from mlxa.ir.graph import Graph


def check_inputs(graph: Graph, inputs: Sequence[np.ndarray]) -> None:
    if len(inputs) != len(graph.inputs):
        raise UserInputError(f"{graph.name} takes {len(graph.inputs)} inputs, got {len(inputs)}")
    for i, (v, a) in enumerate(zip(graph.inputs, inputs)):
        if not isinstance(a, (np.ndarray, np.generic)):  # a numpy scalar for a 0-d input
            raise UserInputError(f"input {i} of {graph.name} must be a numpy array of "
                                 f"{v.type}, got {type(a).__name__}")
        if tuple(a.shape) != v.shape or a.dtype != v.dtype:
            raise UserInputError(f"input {i} of {graph.name} must be {v.type}, got "
                                 f"{a.dtype}{list(a.shape)}")
