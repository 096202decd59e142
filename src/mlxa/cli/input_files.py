"""`--inputs FILE`: a model's inputs read from files, checked before any large read.

Accepted: `.npy` (one array, for a model of one input), `.npz` (arrays by input name; a single
array for a model of one input), an ONNX TensorProto `.pb`, or an ONNX `test_data_set_N` folder
(`input_0.pb`, `input_1.pb`, ... in the order of the model's inputs). Reading happens in two
steps: `open_inputs` learns each array's name, shape and dtype from the file headers alone (a
`.pb` has no header, so its file size is checked against the memory budget before it is read);
`read_inputs` checks them against the model's input types and the memory budget, then reads.
Nothing is ever unpickled (`allow_pickle=False`). Every error quotes the path as it was typed.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from mlxa.budget import check_fits
from mlxa.errors import UserInputError
from mlxa.ir.graph import TensorType

_TEST_DATA_INPUT = re.compile(r"input_(\d+)\.pb")


@dataclass(frozen=True)
class InputArray:
    """One array of an inputs file before its data is read: `read()` returns exactly `type`."""

    name: str  # the .npz key or the TensorProto's name; "" when the file gives none
    type: TensorType
    where: str  # how errors name it: the path as typed, with the .npz key or folder entry
    read: Callable[[], np.ndarray]


def open_inputs(path_text: str) -> list[InputArray]:
    """The arrays in `path_text`, from their headers (see the module docstring)."""
    path = Path(path_text)
    if path.is_dir():
        return _test_data_set(path, path_text)
    if not path.is_file():
        raise UserInputError(f"--inputs {path_text!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return [_npy(path, path_text)]
    if suffix == ".npz":
        return _npz(path, path_text)
    if suffix == ".pb":
        return [_tensor_proto(path, path_text)]
    raise UserInputError(f"--inputs {path_text!r}: expected a .npy, .npz or ONNX TensorProto .pb "
                         "file, or a test_data_set_N folder of input_N.pb files")


def match_inputs(arrays: Sequence[InputArray], names: Sequence[str],
                 path_text: str) -> list[InputArray]:
    """The arrays in the order of the model's inputs `names`: by name when the file names them
    (.npz), else by position; a single array serves a model of a single input whatever its
    name."""
    if len(arrays) == 1 and len(names) == 1:
        return list(arrays)
    if path_text.lower().endswith(".npz"):
        by_name = {a.name: a for a in arrays}
        missing = [n for n in names if n not in by_name]
        extra = sorted(set(by_name) - set(names))
        if missing or extra:
            raise UserInputError(f"--inputs {path_text!r}: arrays must be named after the "
                                 f"model's inputs ({', '.join(names)}); "
                                 + _difference(missing, extra))
        return [by_name[n] for n in names]
    if len(arrays) != len(names):
        raise UserInputError(f"--inputs {path_text!r} holds {len(arrays)} array(s); the model "
                             f"takes {len(names)} input(s) ({', '.join(names)}): give an .npz "
                             "with one array per input name, or a test_data_set_N folder")
    return list(arrays)


def read_inputs(arrays: Sequence[InputArray], types: Sequence[TensorType],
                names: Sequence[str]) -> tuple[np.ndarray, ...]:
    """Each array checked against the model's input type, then the memory budget, then read."""
    for a, t, name in zip(arrays, types, names):
        # byte order is no part of the type: a big-endian file is converted when read
        if a.type.shape != t.shape or a.type.dtype.newbyteorder("=") != t.dtype:
            raise UserInputError(f"--inputs {a.where}: input {name!r} of the model is {t}, the "
                                 f"file holds {a.type}")
    check_fits(f"--inputs {arrays[0].where if arrays else ''}",
               sum(a.type.nbytes for a in arrays))
    return tuple(np.ascontiguousarray(a.read(), dtype=t.dtype) for a, t in zip(arrays, types))


def _difference(missing: Sequence[str], extra: Sequence[str]) -> str:
    parts = []
    if missing:
        parts.append("missing " + ", ".join(map(repr, missing)))
    if extra:
        parts.append("unknown " + ", ".join(map(repr, extra)))
    return "; ".join(parts)


# -- .npy and .npz -------------------------------------------------------------------------------

def _npy_header(f: IO[bytes], where: str) -> TensorType:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version not in ((1, 0), (2, 0)):  # 3.0 only adds UTF-8 field names: not numeric
            raise ValueError(f"format version {version[0]}.{version[1]} is not read")
        read_header = fmt.read_array_header_1_0 if version == (1, 0) \
            else fmt.read_array_header_2_0
        shape, _, dtype = read_header(f)
    except (ValueError, OSError, EOFError) as e:
        raise UserInputError(f"--inputs {where}: not a numpy .npy array ({e})") from None
    if dtype.hasobject or dtype.kind not in "biuf":
        raise UserInputError(f"--inputs {where}: dtype {dtype} is not a numeric type (objects "
                             "are never unpickled)")
    return TensorType.of(shape, dtype)


def _npy(path: Path, path_text: str) -> InputArray:
    try:
        with open(path, "rb") as f:
            t = _npy_header(f, repr(path_text))
    except OSError as e:
        raise UserInputError(f"--inputs {path_text!r}: cannot read: {e.strerror}") from None
    return InputArray("", t, repr(path_text),
                      lambda: _load(lambda: np.load(path, allow_pickle=False), path_text))


def _npz(path: Path, path_text: str) -> list[InputArray]:
    try:
        with zipfile.ZipFile(path) as z:
            members = [m for m in z.namelist() if m.endswith(".npy")]
            headers = {}
            for m in members:
                with z.open(m) as f:
                    headers[m[:-4]] = _npy_header(f, f"{path_text!r} array {m[:-4]!r}")
    except (zipfile.BadZipFile, OSError) as e:
        raise UserInputError(f"--inputs {path_text!r}: not a numpy .npz archive ({e})") from None
    if not headers:
        raise UserInputError(f"--inputs {path_text!r} holds no arrays")

    def reader(key: str) -> Callable[[], np.ndarray]:
        def read() -> np.ndarray:
            with np.load(path, allow_pickle=False) as npz:
                return np.asarray(npz[key])
        return lambda: _load(read, path_text)

    return [InputArray(k, t, f"{path_text!r} array {k!r}", reader(k))
            for k, t in headers.items()]


def _load(read: Callable[[], np.ndarray], path_text: str) -> np.ndarray:
    try:
        return read()
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise UserInputError(f"--inputs {path_text!r}: cannot read: {e}") from None


# -- ONNX TensorProto and test data sets ---------------------------------------------------------

def _tensor_proto(path: Path, path_text: str) -> InputArray:
    try:
        from onnx import TensorProto, numpy_helper
    except ImportError:
        raise UserInputError(f"--inputs {path_text!r}: reading .pb tensors needs the onnx "
                             "package (pip install 'mlxa[onnx]')") from None
    from google.protobuf.message import DecodeError

    check_fits(f"--inputs {path_text!r}", 2 * path.stat().st_size)  # the bytes and the array
    proto = TensorProto()
    try:
        proto.ParseFromString(path.read_bytes())
    except (DecodeError, ValueError, RuntimeError):
        raise UserInputError(f"--inputs {path_text!r}: not an ONNX TensorProto (protobuf "
                             "parsing failed)") from None
    except OSError as e:
        raise UserInputError(f"--inputs {path_text!r}: cannot read: {e.strerror}") from None
    if proto.data_location == TensorProto.EXTERNAL:
        raise UserInputError(f"--inputs {path_text!r}: tensors with external data are not read")
    try:
        array = numpy_helper.to_array(proto)
    except (ValueError, TypeError, KeyError) as e:
        raise UserInputError(f"--inputs {path_text!r}: cannot read the tensor: {e}") from None
    if array.dtype.kind not in "biuf":
        raise UserInputError(f"--inputs {path_text!r}: dtype {array.dtype} is not numeric")
    return InputArray(proto.name, TensorType.of(array.shape, array.dtype), repr(path_text),
                      lambda: array)


def _test_data_set(folder: Path, path_text: str) -> list[InputArray]:
    found = {int(m.group(1)): p.name for p in folder.iterdir()
             if (m := _TEST_DATA_INPUT.fullmatch(p.name))}
    if not found:
        raise UserInputError(f"--inputs {path_text!r}: a folder must hold input_0.pb, "
                             "input_1.pb, ... (an ONNX test_data_set_N)")
    if sorted(found) != list(range(len(found))):
        raise UserInputError(f"--inputs {path_text!r}: input files must be numbered from 0 "
                             f"without gaps, found {', '.join(found[i] for i in sorted(found))}")
    return [_tensor_proto(folder / found[i], str(Path(path_text) / found[i]))
            for i in range(len(found))]
