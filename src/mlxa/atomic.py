"""Atomic file output: write a temp file beside the target, then rename it into place, so a
reader never sees a half-written report and a failure leaves no partial file behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mlxa.errors import UserInputError


def ensure_writable_dir(directory: str | os.PathLike[str]) -> Path:
    """Create `directory` if needed and check it can be written; UserInputError if not."""
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserInputError(f"cannot create output directory {str(path)!r}: {e.strerror}") from e
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise UserInputError(f"output directory {str(path)!r} is not writable")
    return path


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as e:
        raise UserInputError(f"cannot write {str(target)!r}: {e.strerror}") from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise UserInputError(f"cannot write {str(target)!r}: {e.strerror}") from e
        raise


def write_text(path: str | os.PathLike[str], text: str) -> None:
    write_bytes(path, text.encode("utf-8"))
