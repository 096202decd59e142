"""Reading an ONNX model's bytes and its tensors (initializers, attribute tensors, external data)
without trusting the file.

Every read is preceded by a check of what the file declares: only regular files are opened (a
FIFO or a device would block or never end), and that without blocking; sizes and offsets must be
non-negative integers that lie inside the file; every allocation goes through
`mlxa.budget.check_fits` first. External data is read only from files inside the model's folder.
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

from mlxa.budget import check_fits
from mlxa.errors import UserInputError

# element types the IR computes with; others (strings, complex, 8-bit floats) are refused
KINDS = "biuf"


def read_regular_file(path: Path, what: str, offset: int = 0, length: int | None = None,
                      single_link: bool = False) -> bytes:
    """`length` bytes of `path` from `offset` (to its end when None), after checking that it is
    a regular file holding them and that they fit in memory. Opened with O_NONBLOCK, so a FIFO
    cannot block, and checked with fstat on the open file, so it cannot be swapped after.
    `single_link` also refuses a symbolic link or a file with several hard links, as
    onnx.checker does for external data (either could point anywhere)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (os.O_NOFOLLOW if single_link else 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise UserInputError(f"{what} does not exist") from None
    except (OSError, ValueError) as e:
        if single_link and os.path.islink(path):
            raise UserInputError(f"{what} is a symbolic link; refused") from None
        raise UserInputError(f"cannot read {what}: {getattr(e, 'strerror', None) or e}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UserInputError(f"{what} is not a regular file")
        if single_link and info.st_nlink > 1:
            raise UserInputError(f"{what} has {info.st_nlink} hard links; refused")
        if length is None:
            length = max(info.st_size - offset, 0)
        if offset > info.st_size or length > info.st_size - offset:
            raise UserInputError(f"{what} is too short: {length} bytes at offset {offset} "
                                 f"declared, the file has {info.st_size}")
        check_fits(f"reading {what}", length)
        with os.fdopen(fd, "rb", closefd=False) as f:
            f.seek(offset)
            data = f.read(length)
    except OSError as e:
        raise UserInputError(f"cannot read {what}: {e.strerror or e}") from None
    finally:
        os.close(fd)
    if len(data) != length:
        raise UserInputError(f"{what} changed while it was read ({len(data)} of {length} bytes)")
    return data


def tensor_dtype(t: Any, label: str) -> np.dtype:
    """The numpy dtype of a TensorProto, refused unless the IR computes with it."""
    from onnx import helper

    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type))
    except (KeyError, TypeError, ValueError):
        dtype = None
    if dtype is None or dtype.kind not in KINDS:
        raise UserInputError(f"{label}: tensor {t.name!r} has an unsupported element type "
                             f"{t.data_type}")
    return dtype


def tensor_nbytes(t: Any, label: str) -> int:
    """Bytes the tensor declares (its dims times its element size); negative dims refused."""
    if any(d < 0 for d in t.dims):
        raise UserInputError(f"{label}: tensor {t.name!r} has negative dims {list(t.dims)}")
    return math.prod(t.dims) * tensor_dtype(t, label).itemsize


def read_tensor(t: Any, folder: Path | None, label: str) -> np.ndarray:
    """A TensorProto as a read-only array, its size checked against the budget first."""
    from onnx import TensorProto, numpy_helper

    nbytes = tensor_nbytes(t, label)
    check_fits(f"{label}: tensor {t.name!r}", nbytes)
    if t.data_location == TensorProto.EXTERNAL:
        _load_external(t, folder, nbytes, label)
    elif t.HasField("raw_data") and len(t.raw_data) != nbytes:
        raise UserInputError(f"{label}: tensor {t.name!r} holds {len(t.raw_data)} bytes of data, "
                             f"its dims {list(t.dims)} need {nbytes}")
    try:
        array = numpy_helper.to_array(t)
    except (ValueError, TypeError, KeyError, OverflowError) as e:
        raise UserInputError(f"{label}: tensor {t.name!r} cannot be read: {e}") from None
    if not array.flags.c_contiguous:  # (np.ascontiguousarray would make a scalar 1-D)
        array = array.copy()
    array.setflags(write=False)
    return array


def inline_external_data(model: Any, folder: Path | None, label: str) -> None:
    """Read every tensor's external data into the model (initializers and node attributes),
    after checking that the initializers all together fit in memory. onnx.checker would
    otherwise look for the files relative to the working directory, not the model's folder."""
    from onnx import AttributeProto, TensorProto

    graph = model.graph
    check_fits(f"{label}: loading the initializers",
               sum(tensor_nbytes(t, label) for t in graph.initializer))
    tensors = list(graph.initializer) + [a.t for n in graph.node for a in n.attribute
                                         if a.type == AttributeProto.TENSOR]
    for t in tensors:
        if t.data_location == TensorProto.EXTERNAL:
            nbytes = tensor_nbytes(t, label)
            check_fits(f"{label}: tensor {t.name!r}", nbytes)
            _load_external(t, folder, nbytes, label)


def _external_int(info: dict[str, str], key: str, default: int, name: str, label: str) -> int:
    """An offset or a length: decimal digits only (isdigit alone admits other scripts' digits),
    and at most 20 of them (no file is larger; int() of thousands of digits is itself slow)."""
    text = info.get(key)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()):
        raise UserInputError(f"{label}: external data of tensor {name!r} has {key} "
                             f"{text[:40]!r}, not a non-negative integer")
    if len(text) > 20:
        raise UserInputError(f"{label}: external data of tensor {name!r} has {key} "
                             f"{text[:40]!r}, beyond any file's size")
    return int(text)


def _load_external(t: Any, folder: Path | None, nbytes: int, label: str) -> None:
    """Read a tensor's external data into it, from a file inside the model's folder only."""
    from onnx import TensorProto

    info = {e.key: e.value for e in t.external_data}
    location = info.get("location", "")
    if folder is None:
        raise UserInputError(f"{label}: tensor {t.name!r} has external data {location!r} but "
                             "the model was not loaded from a file")
    if not location or "\0" in location:
        raise UserInputError(f"{label}: external data location {location!r} of tensor "
                             f"{t.name!r} is not a file name; refused")
    target = (folder / location).resolve()
    if Path(location).is_absolute() or not target.is_relative_to(folder.resolve()):
        raise UserInputError(f"{label}: external data {location!r} of tensor {t.name!r} lies "
                             f"outside the model's folder {str(folder)!r}; refused")
    offset = _external_int(info, "offset", 0, t.name, label)
    length = _external_int(info, "length", nbytes, t.name, label)
    if length != nbytes:
        raise UserInputError(f"{label}: external data of tensor {t.name!r} has length {length}, "
                             f"its dims {list(t.dims)} need {nbytes} bytes")
    t.raw_data = read_regular_file(folder / location, f"external data {location!r} of tensor "
                                   f"{t.name!r}", offset, length, single_link=True)
    t.data_location = TensorProto.DEFAULT
    del t.external_data[:]
