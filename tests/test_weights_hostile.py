"""Hostile `--weights FILE.npz` files: each is refused with one line naming the file and the
problem (exit 2), without unpickling anything, reading members the model does not use, blocking
on a FIFO or allocating what a member's header merely declares."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from onnx_mutations import run_cli

from mlxa.errors import UserInputError
from mlxa.models.mlp import MLPConfig, load_weights, mlp_weights

CONFIG = MLPConfig(batch=2, hidden=8)
ARGS = ("--batch", "2", "--hidden", "8", "--warmup", "0", "--repeat", "1", "--quiet")


def npz(path: Path, arrays: dict[str, np.ndarray], extra: dict[str, bytes] | None = None,
        compress: bool = False) -> Path:
    """An .npz written member by member, plus raw `extra` members."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method) as z:
        for key, array in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(array), allow_pickle=True)
            z.writestr(f"{key}.npy", buf.getvalue())
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return path


def good(path: Path, **kw) -> Path:  # type: ignore[no-untyped-def]
    return npz(path, mlp_weights(CONFIG), **kw)


def npy_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue()


def bad_crc(path: Path) -> Path:
    good(path)
    data = bytearray(path.read_bytes())
    at = data.index(b"\x93NUMPY") + 200  # inside w0's data (stored, not compressed)
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def with_object_array(path: Path) -> Path:
    arrays = dict(mlp_weights(CONFIG))
    arrays["w0"] = np.array([object()] * 4, dtype=object)
    return npz(path, arrays)


def declared_100gib(path: Path) -> Path:
    """w0's header declares 100 GiB of float32 (its shape also wrong); 16 bytes follow."""
    weights = mlp_weights(CONFIG)
    del weights["w0"]
    return npz(path, weights, {"w0.npy": npy_header((1024, 25 * 2**30 // 1024)) + bytes(16)})


def declared_too_short(path: Path) -> Path:
    weights = mlp_weights(CONFIG)
    w0 = weights.pop("w0")
    return npz(path, weights, {"w0.npy": npy_header(w0.shape) + w0.tobytes()[:100]})


CASES = {
    "missing": (lambda p: p, "does not exist"),
    "empty": (lambda p: (p.write_bytes(b""), p)[1], "is empty"),
    "text": (lambda p: (p.write_text("w0 = 1, 2, 3\n"), p)[1], "not a zip archive"),
    "pickle": (lambda p: (p.write_bytes(pickle.dumps({"w0": [1.0]})), p)[1],
               "not a zip archive"),
    "npy_renamed": (lambda p: (np.save(open(p, "wb"), np.ones(3, np.float32)), p)[1],
                    "a single .npy array"),
    "truncated_zip": (lambda p: (p.write_bytes(good(p).read_bytes()[:5000]), p)[1],
                      "not a readable .npz"),
    "bad_crc": (bad_crc, "not a readable .npz"),
    "object_array": (with_object_array, "w0"),
    "declared_100GiB": (declared_100gib, "w0 has shape"),
    "data_shorter_than_header": (declared_too_short, "w0 holds"),
    "integer_weights": (lambda p: npz(p, {k: v.astype(np.int32) for k, v in
                                          mlp_weights(CONFIG).items()}), "not floating point"),
    "missing_member": (lambda p: npz(p, {k: v for k, v in mlp_weights(CONFIG).items()
                                         if k != "b1"}), "lacks array 'b1'"),
    "directory": (lambda p: (p.mkdir(), p)[1], "not a regular file"),
    "fifo": (lambda p: (os.mkfifo(p), p)[1], "not a regular file"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_weights_are_refused_in_one_line(tmp_path, case) -> None:
    build, needle = CASES[case]
    path = build(tmp_path / "weights.npz")
    outcome = run_cli("analyze", "--weights", str(path), "--out", str(tmp_path / "out"), *ARGS)
    assert outcome.code == 2, outcome
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0], outcome.stderr
    assert needle.lower() in lines[0].lower(), (needle, lines[0])


def test_good_weights_load_in_any_layout(tmp_path) -> None:
    want = mlp_weights(CONFIG)
    odd = {k: np.asfortranarray(v).astype(">f8") for k, v in want.items()}
    for name, arrays, kw in (("plain", want, {}), ("odd", odd, {"compress": True})):
        got = load_weights(npz(tmp_path / f"{name}.npz", arrays, **kw), CONFIG)
        for key, array in want.items():
            assert got[key].dtype == np.float32 and got[key].flags.c_contiguous
            np.testing.assert_allclose(got[key], array, rtol=1e-6)
    outcome = run_cli("analyze", "--weights", str(tmp_path / "odd.npz"), "--out",
                      str(tmp_path / "out"), *ARGS)
    assert outcome.code == 0, outcome


def test_unused_members_are_never_read(tmp_path) -> None:
    """A member the model does not use may be corrupt or huge: it is not read, so no harm."""
    path = good(tmp_path / "w.npz", extra={"junk.npy": npy_header((2**40,)) + bytes(64)})
    data = bytearray(path.read_bytes())
    at = data.rindex(b"\x93NUMPY") + 80  # inside junk's data: its CRC no longer matches
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    assert set(load_weights(path, CONFIG)) == {"w0", "b0", "w1", "b1"}


def test_weights_over_the_budget_are_refused_before_reading(tmp_path, monkeypatch) -> None:
    path = good(tmp_path / "w.npz")
    monkeypatch.setenv("MLXA_MEMORY_BUDGET", "1000")
    with pytest.raises(UserInputError, match="needs about"):
        load_weights(path, CONFIG)
