"""Planning instances on disk, and a deterministic generator of large ones.

The CSV format is MiniMalloc's: a header `id,lower,upper,size` (other columns are ignored), one
buffer per row, alive over the half-open step interval [lower, upper), `size` in bytes. Reading is
strict: every defect is reported as one UserInputError line naming the file and the row.
"""

from __future__ import annotations

import csv
import io
import os
import random
import re
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from mlxa.atomic import write_text
from mlxa.budget import check_fits
from mlxa.errors import UserInputError
from mlxa.planners.contract import Buffer, Plan

COLUMNS = ("id", "lower", "upper", "size")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_FOUR = re.compile(r"(?:[+-]?[0-9]{1,19},){3}[+-]?[0-9]{1,19}")  # a clean row, checked at once
_MAX_DIGITS = 19  # 2^63 - 1, the largest int64, has 19 digits
_INT64_MAX = (1 << 63) - 1
_MEMORY_PER_FILE_BYTE = 16  # rows in memory as Buffers, over their bytes on disk (measured ~10)


def read_instance(path: str | os.PathLike[str]) -> list[Buffer]:
    """Buffers of an instance CSV, in file order. UserInputError on any defect. A UTF-8 byte-order
    mark is skipped; only regular files are read (a FIFO would block), after checking that their
    rows fit the memory budget."""
    name = shown(str(path))
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise UserInputError(f"{name}: is a directory, not a CSV file")
        if not stat.S_ISREG(info.st_mode):
            raise UserInputError(f"{name}: not a regular file")
        check_fits(f"instance {name} ({info.st_size:,} bytes)",
                   _MEMORY_PER_FILE_BYTE * info.st_size)
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserInputError(f"{name}: no such file") from None
    except UnicodeDecodeError:
        raise UserInputError(f"{name}: not a UTF-8 text file") from None
    except ValueError:  # a NUL in the path
        raise UserInputError(f"{name}: not a valid path") from None
    except OSError as e:
        raise UserInputError(f"{name}: cannot read: {e.strerror}") from None
    return parse_instance(text, name)


def parse_instance(text: str, name: str = "<instance>") -> list[Buffer]:
    """Parse instance CSV text; `name` prefixes every error message."""
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise UserInputError(f"{name}: empty file; expected a header {','.join(COLUMNS)}")
    reader = csv.reader(io.StringIO(text))
    try:
        return _parse_rows(reader, name)
    except csv.Error as e:  # a NUL byte, a field over the csv module's limit, a bad quote
        raise UserInputError(f"{name}:{reader.line_num}: {e}") from None


def _parse_rows(reader: Iterator[list[str]], name: str) -> list[Buffer]:
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in COLUMNS if c not in header]
    if not header:
        raise UserInputError(f"{name}: blank first line; expected a header {','.join(COLUMNS)}")
    if missing:
        raise UserInputError(f"{name}: missing column(s) {', '.join(missing)}; "
                             f"expected a header {','.join(COLUMNS)}")
    where = [header.index(c) for c in COLUMNS]
    buffers: list[Buffer] = []
    seen: dict[int, int] = {}
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            raise UserInputError(f"{name}:{line}: expected {len(header)} fields, got {len(row)}")
        cells = [row[i] for i in where]
        values = list(map(int, cells)) if _FOUR.fullmatch(",".join(cells)) else []
        if not values or max(values) > _INT64_MAX or min(values) < -_INT64_MAX - 1:
            values = [_integer(cell, c, name, line) for cell, c in zip(cells, COLUMNS)]
        bid, lower, upper, size = values
        if size < 0:
            raise UserInputError(f"{name}:{line}: negative size {size}")
        if lower < 0:
            raise UserInputError(f"{name}:{line}: negative lower step {lower}")
        if lower >= upper:
            raise UserInputError(f"{name}:{line}: lower {lower} is not below upper {upper}")
        if bid in seen:
            raise UserInputError(f"{name}:{line}: duplicate id {bid} (first on line {seen[bid]})")
        seen[bid] = line
        buffers.append(Buffer(bid, lower, upper, size))
    if not buffers:
        raise UserInputError(f"{name}: no buffers (only a header)")
    return buffers


def _integer(cell: str, column: str, name: str, line: int) -> int:
    """An int64 written in ASCII digits; the text is checked before int() sees it (no
    conversion of thousands of digits)."""
    text = cell.strip()
    if not _INTEGER.fullmatch(text):
        raise UserInputError(f"{name}:{line}: {column} {_quoted(text)} is not an integer")
    digits = len(text.lstrip("+-").lstrip("0"))
    value = int(text) if digits <= _MAX_DIGITS else None
    if value is None or not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise UserInputError(f"{name}:{line}: {column} {_quoted(text)} is out of range "
                             "(at most 2^63 - 1)")
    return value


def shown(text: str) -> str:
    """A file name safe to put in a one-line message: as it is when printable, else quoted
    with escapes (a newline or a terminal escape in a name must not reach the terminal raw)."""
    return text if text.isprintable() else repr(text)


def _quoted(text: str, limit: int = 40) -> str:
    """A cell's text quoted for a message, cut to `limit` characters (with its length)."""
    return repr(text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)")


def offsets_csv(buffers: Sequence[Buffer], plan: Plan) -> str:
    """`id,offset` rows in the order of the buffers."""
    rows = "".join(f"{b.id},{off}\n" for b, off in zip(buffers, plan.offsets))
    return "id,offset\n" + rows


def write_offsets(path: str | os.PathLike[str], buffers: Sequence[Buffer], plan: Plan) -> None:
    """Write the plan's offsets as CSV, atomically (no partial file on failure)."""
    write_text(path, offsets_csv(buffers, plan))


def training_instance(layers: int = 1250, seed: int = 0) -> list[Buffer]:
    """A deterministic training-step-like instance: `layers` layers, about 21 buffers each.

    Forward step i makes a saved activation (alive until its backward step), a few short-lived
    temporaries and workspaces; some activations are recomputed (freed early, remade in the
    backward pass); backward steps make activation and weight gradients, which live until the
    optimizer steps at the end. Sizes are drawn per layer family, in multiples of 256 bytes.
    """
    rng = random.Random(seed)
    buffers: list[Buffer] = []
    opt = 8 * layers

    def add(start: int, end: int, nbytes: int) -> None:
        buffers.append(Buffer(len(buffers), start, max(end, start + 1), 256 * max(1, nbytes)))

    width = [rng.choice((256, 512, 1024, 2048, 4096)) for _ in range(layers)]
    for i in range(layers):
        f, b = 4 * i, opt - 4 * (i + 1)  # layer i's forward and backward step blocks
        act = width[i] * rng.randint(2, 6)
        if rng.random() < 0.3:  # recomputed: freed after its consumer, remade before backward
            add(f, f + 6, act)
            add(b - 3, b + 2, act)
        else:
            add(f, b + 2, act)
        for k in range(rng.randint(3, 6)):  # temporaries of the forward ops
            add(f + k % 4, f + k % 4 + rng.randint(1, 3), width[i] * rng.randint(1, 4))
        add(f + 1, f + 2, rng.randint(16, 4096))  # a kernel workspace
        for k in range(rng.randint(4, 8)):  # backward temporaries
            add(b + k % 4, b + k % 4 + rng.randint(1, 3), width[i] * rng.randint(1, 4))
        add(b, b + 5, act)  # gradient of the activation, consumed by the layer below
        for _ in range(rng.randint(1, 2)):  # weight gradients, alive until the optimizer
            add(b + rng.randint(1, 3), opt + 1 + i % 97, width[i] * rng.randint(1, 2) // 2)
        add(b + 2, b + 3, rng.randint(16, 4096))
    for k in range(0, layers, 10):  # optimizer temporaries
        add(opt + k % 97, opt + k % 97 + 2, rng.randint(256, 8192))
    return buffers


def random_instance(n: int = 20_000, seed: int = 0) -> list[Buffer]:
    """`n` buffers with uniform start steps over n steps, log-normal lifetimes (median 20 steps)
    and log-normal sizes (median 22 KB): no structure for a greedy order to exploit."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        start = rng.randrange(n)
        life = max(1, int(rng.lognormvariate(3.0, 1.5)))
        out.append(Buffer(i, start, start + life, max(1, int(rng.lognormvariate(10.0, 1.5)))))
    return out
