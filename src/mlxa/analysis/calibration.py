"""Calibration: the range of each chosen value over representative inputs, `Graph -> frozen
facts`. The float graph runs node by node (the op table's kernels); each watched value keeps its
running min and max and a deterministic sample of its elements (every k-th, at most SAMPLES per
batch), from which a method picks the range to quantize:

  minmax      the observed min and max (nothing clipped; an outlier stretches the scale);
  percentile  the p-th percentile of the samples at each end (|x| when symmetric): clips the
              rare outliers, as TensorRT's and ONNX Runtime's percentile calibrators do;
  mse         the range, a fraction of the observed one (GRID candidates), whose 8-bit
              quantize-dequantize of the samples has the least squared error.

Every range contains 0, so that zero (padding, relu's floor) is exact in 8 bits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mlxa.ir.graph import Graph, Value
from mlxa.ops import get_op

METHODS = ("minmax", "percentile", "mse")
SAMPLES = 1 << 16
GRID = 64


@dataclass(frozen=True)
class Observation:
    """One value seen over the calibration batches: extremes and a sample of its elements."""

    lo: float
    hi: float
    samples: np.ndarray


@dataclass(frozen=True)
class QParams:
    """Per-tensor quantization of an activation: q = round(x / scale) + zero_point."""

    scale: float
    zero_point: int
    dtype: np.dtype

    @staticmethod
    def of_range(lo: float, hi: float, dtype: np.dtype) -> QParams:
        """Asymmetric over [lo, hi] for uint8; symmetric over +-max(|lo|, |hi|) for int8."""
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        info = np.iinfo(dtype)
        if dtype == np.uint8:
            scale = (hi - lo) / (info.max - info.min) or 1.0
            zero = int(np.clip(round(-lo / scale), info.min, info.max))
            return QParams(float(np.float32(scale)), zero, np.dtype(dtype))
        scale = max(-lo, hi) / info.max or 1.0
        return QParams(float(np.float32(scale)), 0, np.dtype(dtype))


def observe(graph: Graph, batches: Sequence[Sequence[np.ndarray]],
            watch: Sequence[Value]) -> dict[Value, Observation]:
    """Run the graph on every batch; the watched values' extremes and samples."""
    watched = set(watch)
    seen: dict[Value, list[np.ndarray]] = {v: [] for v in watch}
    for batch in batches:
        env: dict[Value, np.ndarray] = dict(graph.params)
        env.update(zip(graph.inputs, batch))
        for v in graph.inputs:
            if v in watched:
                seen[v].append(_sample(env[v]))
        for node in graph.nodes:
            outs = get_op(node.op).kernel([env[v] for v in node.inputs], None, node.attrs)
            env.update(zip(node.outputs, outs))
            for v, a in zip(node.outputs, outs):
                if v in watched:
                    seen[v].append(_sample(a))
    return {v: _observation(parts) for v, parts in seen.items()}


def _sample(a: np.ndarray) -> np.ndarray:
    flat = np.asarray(a, np.float32).ravel()
    step = max(1, flat.size // SAMPLES)
    # the extremes travel with the sample, so minmax never needs the full tensor again
    return np.concatenate([flat[::step], [flat.min(), flat.max()]]) if flat.size else flat


def _observation(parts: list[np.ndarray]) -> Observation:
    samples = np.concatenate(parts) if parts else np.zeros(1, np.float32)
    return Observation(float(samples.min()), float(samples.max()), samples)


def choose_range(obs: Observation, method: str, dtype: np.dtype,
                 percentile: float = 99.99) -> tuple[float, float]:
    """The range `method` picks from one observation (see the module docstring)."""
    symmetric = np.dtype(dtype) == np.int8
    if method == "minmax":
        return min(obs.lo, 0.0), max(obs.hi, 0.0)
    if method == "percentile":
        if symmetric:
            bound = float(np.percentile(np.abs(obs.samples), percentile))
            return -bound, bound
        return (min(float(np.percentile(obs.samples, 100.0 - percentile)), 0.0),
                max(float(np.percentile(obs.samples, percentile)), 0.0))
    if method == "mse":
        return _mse_range(obs, np.dtype(dtype))
    raise ValueError(f"calibration method {method!r}: expected one of {', '.join(METHODS)}")


def _mse_range(obs: Observation, dtype: np.dtype) -> tuple[float, float]:
    lo, hi = min(obs.lo, 0.0), max(obs.hi, 0.0)
    best, best_err = (lo, hi), np.inf
    for fraction in np.linspace(1.0 / GRID, 1.0, GRID):
        q = QParams.of_range(lo * fraction, hi * fraction, dtype)
        err = float(np.mean((fake_quantize(obs.samples, q) - obs.samples) ** 2))
        if err < best_err:
            best, best_err = (lo * fraction, hi * fraction), err
    return best


def fake_quantize(x: np.ndarray, q: QParams) -> np.ndarray:
    """Quantize then dequantize, in float: what the 8-bit value stands for."""
    info = np.iinfo(q.dtype)
    levels = np.clip(np.rint(x / np.float32(q.scale)) + q.zero_point, info.min, info.max)
    return (levels - q.zero_point) * np.float32(q.scale)


def calibrate(graph: Graph, batches: Sequence[Sequence[np.ndarray]], watch: Sequence[Value],
              method: str, dtype: np.dtype, percentile: float = 99.99) -> Mapping[Value, QParams]:
    """Quantization parameters of each watched value."""
    if method not in METHODS:
        raise ValueError(f"calibration method {method!r}: expected one of {', '.join(METHODS)}")
    observed = observe(graph, batches, watch)
    return {v: QParams.of_range(*choose_range(o, method, dtype, percentile), dtype)
            for v, o in observed.items()}
