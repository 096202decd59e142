"""The sweep's one columnar store: a DuckDB file.

Why DuckDB and not Parquet: a sweep writes one cell at a time, as each finishes, and must never
lose one. A DuckDB insert is a transaction, written to the write-ahead log and synced at commit,
so a cell is on disk the moment `write_cell` returns, whatever kills the sweep after; the file is
one file, and `cell_key` as its primary key makes "skip what is finished" one indexed query.
Parquet files are immutable: one cell at a time would mean a file per cell or rewriting the file
each time. The report reads the store with SQL, and `export_parquet` writes the same table as
Parquet for pandas and Arrow users.

Tables (every figure's column names its unit):
- `cells`: one row per finished cell: its parameters, figures and metadata (COLUMNS).
- `events`: what happened on the way: a cell retried after a worker died, a cell that failed
  (its error), a worker lost; each with the sweep it belongs to.
- `sweeps`: one row per invocation: the command, the cluster, the counts, complete or not.
Only the client writes (one writer, as DuckDB requires); a second sweep on the same store at the
same time is refused, not interleaved.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlxa.errors import UserInputError

STORE_SCHEMA = "mlxa.sweep-store/1"

COLUMNS: tuple[tuple[str, str], ...] = (
    # the cell
    ("cell_key", "VARCHAR PRIMARY KEY"), ("model", "VARCHAR"), ("batch", "INTEGER"),
    ("precision", "VARCHAR"), ("backend", "VARCHAR"), ("planner", "VARCHAR"),
    ("seed", "INTEGER"), ("warmup", "INTEGER"), ("repeat", "INTEGER"), ("budget_s", "DOUBLE"),
    # its figures
    ("latency_median_ms", "DOUBLE"), ("latency_p10_ms", "DOUBLE"), ("latency_p90_ms", "DOUBLE"),
    ("latency_min_ms", "DOUBLE"), ("timed_calls", "INTEGER"),
    ("memory_nbytes", "BIGINT"), ("peak_traced_nbytes", "BIGINT"),
    ("allocations_per_inference", "BIGINT"), ("arena_nbytes", "BIGINT"),
    ("lower_bound_nbytes", "BIGINT"), ("speedup_ratio", "DOUBLE"),
    ("speedup_low_ratio", "DOUBLE"), ("speedup_high_ratio", "DOUBLE"), ("correct", "BOOLEAN"),
    ("error_ratio", "DOUBLE"), ("model_flops", "BIGINT"), ("params", "BIGINT"),
    ("elapsed_s", "DOUBLE"),
    # how it ran: attempts (starts seen), the workers that started it, the one that finished it
    ("attempts", "INTEGER"), ("workers", "VARCHAR"), ("worker", "VARCHAR"),
    ("sweep_id", "VARCHAR"),
    # where and with what
    ("hostname", "VARCHAR"), ("pid", "INTEGER"), ("cpu", "VARCHAR"), ("cpu_count", "INTEGER"),
    ("platform", "VARCHAR"), ("python_version", "VARCHAR"), ("numpy_version", "VARCHAR"),
    ("mlxa_version", "VARCHAR"), ("backend_version", "VARCHAR"), ("blas", "VARCHAR"),
    ("load_average", "DOUBLE"), ("date", "VARCHAR"), ("warnings", "VARCHAR"),
    ("run_json", "VARCHAR"),
)
COLUMN_NAMES = tuple(name for name, _ in COLUMNS)

_TABLES = (
    "CREATE TABLE IF NOT EXISTS store_info (key VARCHAR PRIMARY KEY, value VARCHAR)",
    f"CREATE TABLE IF NOT EXISTS cells ({', '.join(f'{n} {t}' for n, t in COLUMNS)})",
    "CREATE TABLE IF NOT EXISTS events (sweep_id VARCHAR, date VARCHAR, kind VARCHAR, "
    "cell_key VARCHAR, label VARCHAR, worker VARCHAR, detail VARCHAR)",
    "CREATE TABLE IF NOT EXISTS sweeps (sweep_id VARCHAR PRIMARY KEY, started VARCHAR, "
    "finished VARCHAR, status VARCHAR, command VARCHAR, cluster VARCHAR, workers INTEGER, "
    "grid_cells INTEGER, skipped INTEGER, finished_cells INTEGER, failed_cells INTEGER, "
    "retried_cells INTEGER, client_host VARCHAR, mlxa_version VARCHAR)",
)


class Store:
    """The open store. Use as a context manager; every write is one committed transaction."""

    def __init__(self, path: str | os.PathLike[str], read_only: bool = False) -> None:
        self.path = Path(path)
        self.con = _connect(self.path, read_only)
        if not read_only:
            for sql in _TABLES:
                self.con.execute(sql)
            self.con.execute("INSERT OR IGNORE INTO store_info VALUES ('schema', ?)",
                             [STORE_SCHEMA])
        self._check_schema()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    def _check_schema(self) -> None:
        try:
            found = self.con.execute("SELECT value FROM store_info WHERE key = 'schema'").fetchone()
        except Exception:  # duckdb.CatalogException: no such table
            found = None
        if found is None or found[0] != STORE_SCHEMA:
            self.close()
            raise UserInputError(f"{str(self.path)!r} is not an {STORE_SCHEMA} sweep store")

    # -- reading -----------------------------------------------------------------------------

    def finished_keys(self) -> set[str]:
        return {k for (k,) in self.con.execute("SELECT cell_key FROM cells").fetchall()}

    def cells(self) -> list[dict[str, Any]]:
        """Every finished cell, ordered by model, precision, backend, planner, batch."""
        return self._dicts("SELECT * FROM cells ORDER BY model, precision, backend, planner, "
                           "batch")

    def events(self, sweep_id: str | None = None) -> list[dict[str, Any]]:
        where, args = ("WHERE sweep_id = ?", [sweep_id]) if sweep_id else ("", [])
        return self._dicts(f"SELECT * FROM events {where} ORDER BY date", args)

    def sweeps(self) -> list[dict[str, Any]]:
        return self._dicts("SELECT * FROM sweeps ORDER BY started")

    def _dicts(self, sql: str, args: list[Any] | None = None) -> list[dict[str, Any]]:
        cursor = self.con.execute(sql, args or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    # -- writing: each call one transaction -----------------------------------------------------

    def write_cell(self, row: Mapping[str, Any],
                   events: tuple[tuple[str, str, str, str, str, str, str], ...] = ()) -> None:
        """A finished cell (and the events that go with it) on disk when this returns."""
        unknown = set(row) - set(COLUMN_NAMES)
        if unknown:
            raise ValueError(f"not columns of the store: {sorted(unknown)}")
        values = [row.get(name) for name in COLUMN_NAMES]
        with self._transaction():
            self.con.execute(f"INSERT OR REPLACE INTO cells VALUES "
                             f"({', '.join('?' * len(COLUMN_NAMES))})", values)
            for event in events:
                self.con.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", list(event))

    def write_event(self, event: tuple[str, str, str, str, str, str, str]) -> None:
        """(sweep_id, date, kind, cell_key, label, worker, detail)."""
        with self._transaction():
            self.con.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", list(event))

    def write_sweep(self, record: Mapping[str, Any]) -> None:
        names = list(record)
        with self._transaction():
            self.con.execute(f"INSERT OR REPLACE INTO sweeps ({', '.join(names)}) VALUES "
                             f"({', '.join('?' * len(names))})", [record[n] for n in names])

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def export_parquet(self, path: str | os.PathLike[str]) -> None:
        """The cells table as one Parquet file, written beside `path` and renamed into place."""
        target = Path(path)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            self.con.execute(f"COPY (SELECT * FROM cells ORDER BY model, precision, backend, "
                             f"planner, batch) TO '{_sql_path(tmp)}' (FORMAT PARQUET)")
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _connect(path: Path, read_only: bool) -> Any:
    import duckdb

    if read_only and not path.is_file():
        raise UserInputError(f"no sweep store at {str(path)!r} (run `mlxa sweep` first)")
    if path.exists() and not path.is_file():
        raise UserInputError(f"sweep store {str(path)!r} is not a regular file")
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as e:
        if "lock" in str(e).lower():
            raise UserInputError(f"sweep store {str(path)!r} is in use by another process "
                                 "(one sweep per store at a time)") from None
        raise UserInputError(f"cannot open sweep store {str(path)!r}: "
                             f"{_first_line(str(e))}") from None
    except duckdb.Error as e:
        raise UserInputError(f"cannot open sweep store {str(path)!r}: "
                             f"{_first_line(str(e))}") from None


def _first_line(text: str) -> str:
    return " ".join(text.split())[:200]
