"""Atomic file output. One file: written to a temp file beside the target, then renamed into
place, so a reader never sees a half-written file. Several files of one run (`write_files`): all
are written to temp files first, then renamed in turn; when a rename fails, the files already
renamed are put back as they were (the previous version restored, or removed), so a run leaves
all its files or none. Files get the permissions the umask gives a new file (not the 0600 of a
temp file). A report name is a plain file name, never a path (`check_name`)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from mlxa.errors import UserInputError
from mlxa.interrupts import held

NAME_MAX = 200


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


def check_name(name: str, option: str = "--name") -> str:
    """A report name: one plain file name (no directory part, no '..', no control characters,
    not hidden), so every file of a run stays inside --out."""
    bad = (not name or name in (".", "..") or name.startswith(".") or len(name) > NAME_MAX
           or any(c in name for c in "/\\") or any(not c.isprintable() for c in name))
    if bad:
        raise UserInputError(f"{option} {name!r}: expected a plain file name (no '/', no "
                             f"leading '.', printable, at most {NAME_MAX} characters)")
    return name


def safe_name(text: str) -> str:
    """A default report name made from a model's name: unsafe characters become '_'."""
    cleaned = "".join(c if c.isalnum() or c in "-_+=,@" else "_" for c in text)[:NAME_MAX]
    return cleaned.lstrip("_.") or "model"


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _temp_beside(target: Path, data: bytes) -> str:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as e:
        raise UserInputError(f"cannot write {str(target)!r}: {e.strerror}") from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, _umask_mode())
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise UserInputError(f"cannot write {str(target)!r}: {e.strerror}") from e
        raise
    return tmp


def write_files(files: Mapping[Path, bytes]) -> None:
    """Every file or none (see the module docstring)."""
    temps: dict[Path, str] = {}
    backups: dict[Path, str | None] = {}
    try:
        # A signal waits out each step whose bookkeeping must match the disk (interrupts.held):
        # a temp file made but not yet in `temps`, a file replaced but still in it, would be left
        # behind or not put back; it raises between steps, where the rollback below is exact.
        with held():
            for target, data in files.items():
                temps[target] = _temp_beside(target, data)
        for target in list(temps):
            with held():
                backups[target] = _backup(target)
                os.replace(temps[target], target)
                del temps[target]
    except BaseException as e:
        for tmp in temps.values():
            Path(tmp).unlink(missing_ok=True)
        _restore(backups, placed=[t for t in backups if t not in temps])
        if isinstance(e, OSError):
            raise UserInputError(f"cannot write {str(e.filename or '')!r}: {e.strerror}") from e
        raise
    with held():
        for backup in backups.values():
            if backup:
                Path(backup).unlink(missing_ok=True)


def _backup(target: Path) -> str | None:
    """A hard link to the file `target` replaces, to put back on failure (None: no file)."""
    if not target.exists():
        return None
    backup = f"{target.parent}/.{target.name}.{os.getpid()}.bak"
    Path(backup).unlink(missing_ok=True)
    os.link(target, backup)
    return backup


def _restore(backups: Mapping[Path, str | None], placed: list[Path]) -> None:
    for target in placed:
        backup = backups[target]
        if backup is None:
            target.unlink(missing_ok=True)
        else:
            os.replace(backup, target)
    for target, backup in backups.items():
        if target not in placed and backup:
            Path(backup).unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    write_files({Path(path): data})


def write_text(path: str | os.PathLike[str], text: str) -> None:
    write_bytes(path, text.encode("utf-8"))
