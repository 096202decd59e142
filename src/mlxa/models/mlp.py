"""The seed model: an MLP, 1024 -> 4096 -> 1024 by default, bias + activation after every hidden
matrix product. Weights are deterministic in `seed` (uniform in +-1/sqrt(fan_in), as torch's
Linear initialises) or loaded from an .npz file with arrays w0, b0, w1, b1, ... of shapes
(fan_in, fan_out) and (fan_out,)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np

from mlxa.budget import check_fits
from mlxa.errors import UserInputError
from mlxa.ir.builder import GraphBuilder
from mlxa.ir.graph import Graph

ACTIVATIONS = {
    "gelu": ("gelu", {"approximate": "tanh"}),
    "gelu_exact": ("gelu", {"approximate": "none"}),
    "relu": ("relu", {}),
    "swish": ("silu", {}),
}


@dataclass(frozen=True)
class MLPConfig:
    batch: int = 32
    in_features: int = 1024
    hidden: int = 4096
    out_features: int = 1024
    layers: int = 1  # hidden layers
    activation: str = "gelu"
    seed: int = 0

    @property
    def widths(self) -> list[int]:
        return [self.in_features] + [self.hidden] * self.layers + [self.out_features]

    def describe(self) -> str:
        return "MLP (" + " -> ".join(map(str, self.widths)) + ")"


def mlp_weights(config: MLPConfig) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(config.seed)
    weights = {}
    for i, (fan_in, fan_out) in enumerate(zip(config.widths, config.widths[1:])):
        bound = 1.0 / np.sqrt(fan_in)
        weights[f"w{i}"] = rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32)
        weights[f"b{i}"] = rng.uniform(-bound, bound, (fan_out,)).astype(np.float32)
    return weights


def load_weights(path: str | Path, config: MLPConfig) -> dict[str, np.ndarray]:
    """The weights the model needs from an .npz, read lazily: each member's .npy header (shape,
    dtype) is checked before its data is read, the data's size against the memory budget, and
    members the model does not use are never read. Nothing is unpickled."""
    import zipfile
    import zlib

    label = repr(str(path))
    try:
        with _open_regular(path, label) as f, zipfile.ZipFile(f) as archive:
            members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
            weights = {}
            for key, shape in weight_shapes(config).items():
                if key not in members:
                    raise UserInputError(f"weights file {label} lacks array {key!r} "
                                         f"{list(shape)}")
                with archive.open(members[key]) as member:
                    weights[key] = _read_member(member, key, shape, label)
            return weights
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError,
            NotImplementedError, ValueError) as e:
        raise UserInputError(f"weights file {label} is not a readable .npz (corrupt or "
                             f"truncated: {_first_line(e)})") from None


def _first_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:200] or type(e).__name__


def _open_regular(path: str | Path, label: str) -> BinaryIO:
    """The file opened for reading if it is a regular .npz (a zip); never blocks on a FIFO."""
    import os
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise UserInputError(f"weights file {label} does not exist") from None
    except (OSError, ValueError) as e:
        raise UserInputError(f"cannot read weights file {label}: "
                             f"{getattr(e, 'strerror', None) or e}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UserInputError(f"weights file {label} is not a regular file")
    f = os.fdopen(fd, "rb")
    magic = f.read(6)
    f.seek(0)
    if magic[:2] != b"PK":
        f.close()
        what = ("empty" if not magic else "a single .npy array" if magic == b"\x93NUMPY"
                else "not a zip archive")
        raise UserInputError(f"weights file {label} is {what}, not an .npz of arrays "
                             "w0, b0, w1, b1, ...")
    return f


def _read_member(member: IO[bytes], key: str, shape: tuple[int, ...],
                 label: str) -> np.ndarray:
    """One .npy member: header checked (floating point, the shape the model needs, data of the
    declared size), budget checked, then read to its end, so the zip's CRC is checked too."""
    from numpy.lib import format as npy

    version = npy.read_magic(member)
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise UserInputError(f"weights file {label}: {key} has .npy version {version}")
    read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
    found, fortran, dtype = read_header(member)
    if found != shape:
        raise UserInputError(f"weights file {label}: {key} has shape {list(found)}, the model "
                             f"needs {list(shape)}")
    if dtype.hasobject or dtype.kind != "f":
        raise UserInputError(f"weights file {label}: {key} is {dtype}, not floating point")
    nbytes = math.prod(shape) * dtype.itemsize
    check_fits(f"weights file {label}: {key}", 2 * nbytes)
    data = member.read(nbytes)
    if len(data) != nbytes or member.read(1):
        raise UserInputError(f"weights file {label}: {key} holds {len(data)} bytes of data or "
                             f"more, its header declares {nbytes}")
    array = np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C")
    return np.ascontiguousarray(array, dtype=np.float32)


def weight_shapes(config: MLPConfig) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for i, (fan_in, fan_out) in enumerate(zip(config.widths, config.widths[1:])):
        shapes[f"w{i}"] = (fan_in, fan_out)
        shapes[f"b{i}"] = (fan_out,)
    return shapes


def mlp(config: MLPConfig = MLPConfig(), weights: Mapping[str, np.ndarray] | None = None) -> Graph:
    if config.activation not in ACTIVATIONS:
        raise UserInputError(f"unknown activation {config.activation!r}; "
                             f"choose from {', '.join(ACTIVATIONS)}")
    weights = mlp_weights(config) if weights is None else weights
    act, act_attrs = ACTIVATIONS[config.activation]
    b = GraphBuilder("mlp")
    h = b.input((config.batch, config.in_features))
    n = len(config.widths) - 1
    for i in range(n):
        h = b.op("matmul", h, b.param(weights[f"w{i}"]))
        h = b.op("add", h, b.param(weights[f"b{i}"]))
        if i < n - 1:
            h = b.op(act, h, **act_attrs)
    return b.build(h)
