"""The ceilings cache: measured once per machine fingerprint, read back after.

The fingerprint hashes what changes a ceiling: the CPU model and flags, the CPUs this process
may use, and the versions of numpy, its BLAS and ONNX Runtime. The cache lives in
$MLXA_CACHE_DIR (tests), else $XDG_CACHE_HOME/mlxa, else ~/.cache/mlxa, one JSON file per
fingerprint, written atomically. An unreadable or foreign file is measured again, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from mlxa.atomic import write_bytes
from mlxa.errors import UserInputError
from mlxa.machine.blas import blas_info
from mlxa.machine.ceilings import SCHEMA, Ceilings
from mlxa.machine.cpu import cpu_count, cpu_flags, cpu_name
from mlxa.machine.probe import ProbeConfig, measure
from mlxa.report.progress import Progress, no_progress


def cache_dir() -> Path:
    override = os.environ.get("MLXA_CACHE_DIR", "").strip()
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".cache") / "mlxa"


def machine_description() -> dict[str, Any]:
    blas = blas_info()
    return {"cpu": cpu_name(), "flags": sorted(cpu_flags()), "cpus": cpu_count(),
            "numpy": np.__version__,
            "blas": {k: blas.get(k) for k in ("library", "version", "architecture", "threads")},
            "onnxruntime": _version("onnxruntime"), "schema": SCHEMA}


def fingerprint(description: dict[str, Any]) -> str:
    text = json.dumps(description, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_path(fp: str, config: ProbeConfig) -> Path:
    suffix = "" if config == ProbeConfig() else "-" + fingerprint({"config": repr(config)})[:8]
    return cache_dir() / f"ceilings-{fp}{suffix}.json"


def load_cached(path: Path, fp: str) -> Ceilings | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        ceilings = Ceilings.from_json(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return ceilings if ceilings.fingerprint == fp else None


def get_ceilings(refresh: bool = False, config: ProbeConfig | None = None,
                 clock: Callable[[], float] = time.perf_counter,
                 progress: Progress = no_progress) -> tuple[Ceilings, Path, bool]:
    """(ceilings, cache file, True when read from the cache); `progress` hears of a measure."""
    config = config or ProbeConfig()
    description = machine_description()
    fp = fingerprint(description)
    path = cache_path(fp, config)
    if not refresh:
        cached = load_cached(path, fp)
        if cached is not None:
            return cached, path, True
    threads = int(description.get("blas", {}).get("threads") or cpu_count())
    ceilings = measure(config, fp, description, threads, clock, progress=progress)
    store(path, ceilings)
    return ceilings, path, False


def store(path: Path, ceilings: Ceilings) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, json.dumps(ceilings.to_json(), indent=1).encode())
    except (OSError, UserInputError):  # an unwritable cache costs a re-measure, not the run
        pass


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def load_ceilings(refresh: bool = False, quick: bool = False,
                  progress: Progress = no_progress) -> tuple[Ceilings, str]:
    """The cached ceilings (measured when missing) and a note saying which."""
    from mlxa.machine.probe import QUICK, ProbeConfig

    ceilings, path, hit = get_ceilings(refresh, QUICK if quick else ProbeConfig(),
                                       progress=progress)
    note = f"read from the cache {path}" if hit else f"measured now, cached in {path}"
    return ceilings, note + (" (quick sweep)" if quick else "")


def ceilings_for(path: str | None) -> tuple[Ceilings, str]:
    """The ceilings in a machine.json (`--ceilings FILE`), else the cached ones."""
    from mlxa.errors import UserInputError

    if path is None:
        return load_ceilings()
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return Ceilings.from_json(data), f"read from {path}"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise UserInputError(f"--ceilings {path!r}: not a machine.json of mlxa machine "
                             f"({type(e).__name__})") from None
