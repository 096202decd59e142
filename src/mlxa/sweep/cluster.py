"""Where a sweep runs: a local Dask cluster of worker processes on 127.0.0.1 (the default), or
the cluster whose scheduler `--scheduler ADDRESS` names.

Local workers are processes, one thread each, behind a nanny that starts a new worker when one
dies; Dask's nanny starts them with one BLAS and OpenMP thread each, so two workers on two cores
do not fight over them (the thread count is in every row's `blas`). Nothing listens beyond the
loopback address and no dashboard is started. On a remote cluster every worker needs mlxa (with
the `sweep` extra) installed: that is checked before the first cell is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from mlxa.errors import UserInputError

LOCAL_HOST = "127.0.0.1"
MAX_LOCAL_WORKERS = 64
CONNECT_TIMEOUT_S = 20
WORKER_WAIT_S = 60


@dataclass(frozen=True)
class Connected:
    client: Any  # distributed.Client
    description: str  # "local: 2 workers on 127.0.0.1" or "scheduler tcp://..."
    workers: int


def check_installed(cluster: bool) -> None:
    """UserInputError without the sweep extra (duckdb for the store; dask[distributed] too to
    run cells); before anything else is done."""
    try:
        import duckdb  # noqa: F401

        if cluster:
            import distributed  # noqa: F401
    except ImportError:
        raise UserInputError("mlxa sweep needs dask[distributed] and duckdb: "
                             "pip install 'mlxa[sweep]'") from None


@contextmanager
def connect(scheduler: str | None, workers: int) -> Iterator[Connected]:
    """A client of a new local cluster, or of the scheduler at `scheduler`; closed on exit."""
    if scheduler is None:
        with _local(workers) as connected:
            yield connected
        return
    client = _remote_client(scheduler)
    try:
        n = _wait_for_workers(client, scheduler)
        _check_workers(client, scheduler)
        yield Connected(client, f"scheduler {scheduler}", n)
    finally:
        client.close()


@contextmanager
def _local(workers: int) -> Iterator[Connected]:
    from distributed import Client, LocalCluster

    if not 1 <= workers <= MAX_LOCAL_WORKERS:
        raise UserInputError(f"--workers must be between 1 and {MAX_LOCAL_WORKERS}, got {workers}")
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           host=LOCAL_HOST, dashboard_address=None,
                           silence_logs=logging.CRITICAL)
    try:
        client = Client(cluster)
        try:
            yield Connected(client, f"local: {workers} worker processes on {LOCAL_HOST}",
                            workers)
        finally:
            client.close()
    finally:
        cluster.close()


def check_address(address: str) -> None:
    """The form of `--scheduler ADDRESS` (reaching it is connect's part)."""
    if not address or any(not c.isprintable() or c.isspace() for c in address) \
            or ":" not in address:
        raise UserInputError(f"--scheduler {address!r}: expected an address like "
                             "tcp://HOST:8786")


def _remote_client(address: str) -> Any:
    from distributed import Client

    check_address(address)
    try:
        return Client(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as e:
        raise UserInputError(f"cannot reach the Dask scheduler at {address!r}: "
                             f"{' '.join(str(e).split())[:200]}") from None


def _wait_for_workers(client: Any, address: str) -> int:
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except (TimeoutError, OSError):
        raise UserInputError(f"the scheduler at {address!r} has no workers after "
                             f"{WORKER_WAIT_S} s") from None
    return len(client.scheduler_info(n_workers=-1)["workers"])


def _check_workers(client: Any, address: str) -> None:
    """Every worker imports the same mlxa as this client; UserInputError naming those that
    do not."""
    from mlxa import __version__

    try:
        versions = client.run(_mlxa_version)
    except Exception as e:  # a worker without mlxa cannot unpickle the function
        raise UserInputError(f"workers of {address!r} cannot run mlxa ({type(e).__name__}): "
                             "install mlxa[sweep] on every worker") from None
    odd = {w: v for w, v in versions.items() if v != __version__}
    if odd:
        worker, version = next(iter(odd.items()))
        raise UserInputError(f"worker {worker} has mlxa {version}, this client {__version__}: "
                             "install the same mlxa on every worker")


def _mlxa_version() -> str:
    from mlxa import __version__

    return __version__
