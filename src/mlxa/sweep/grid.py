"""The sweep's grid: models x batch sizes x precisions x planners x backends, as Cells.

A Cell is everything that decides what one run measures; its key is a hash of exactly those
fields, so a re-run finds the cells it has finished already (store.py) and a change of any
measured parameter (the time budget included) makes a new cell. Versions, machine and date are
not in the key: they are the run's metadata, stored beside its figures.

Axes that do not apply collapse: the planner places the compiled executor's arena only, so an
eager or ONNX Runtime cell has planner NOT_APPLICABLE and is run once, not once per planner; a
precision other than fp32 is a compilation (passes/quantize.py), so it pairs with the compiled
backend alone (eager is the fp32 reference, ONNX Runtime runs the fp32 export). Only the
precisions mlxa can compile are accepted; any other is refused with the list of those.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from mlxa.errors import UserInputError

KEY_SCHEMA = "mlxa.sweep-cell/1"  # changes when a field of Cell changes meaning
NOT_APPLICABLE = "-"
PRECISIONS = ("fp32", "int8")
BACKENDS = ("eager", "compiled", "onnxruntime")
DEFAULT_BACKENDS = ("eager", "compiled")  # the same grid on every machine, whatever is installed
MAX_BATCH = 4096


@dataclass(frozen=True, order=True)
class Cell:
    """One run of the grid. `repeat` None: as many timed calls as `budget_s` allows."""

    model: str
    batch: int
    precision: str
    backend: str
    planner: str
    seed: int = 0
    warmup: int = 1
    repeat: int | None = None
    budget_s: float = 1.0

    @property
    def key(self) -> str:
        text = json.dumps({"schema": KEY_SCHEMA, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    @property
    def label(self) -> str:
        """Short and readable: `resnet18 b4 fp32 compiled/best`."""
        planner = f"/{self.planner}" if self.planner != NOT_APPLICABLE else ""
        return f"{self.model} b{self.batch} {self.precision} {self.backend}{planner}"


@dataclass(frozen=True)
class Grid:
    models: tuple[str, ...]
    batches: tuple[int, ...]
    precisions: tuple[str, ...] = ("fp32",)
    planners: tuple[str, ...] = ("best",)
    backends: tuple[str, ...] = DEFAULT_BACKENDS
    seed: int = 0
    warmup: int = 1
    repeat: int | None = None
    budget_s: float = 1.0

    def cells(self) -> tuple[Cell, ...]:
        """Every cell once, in axis order (model, batch, precision, backend, planner)."""
        seen: dict[str, Cell] = {}
        for model in self.models:
            for batch in self.batches:
                for precision in self.precisions:
                    for backend in self.backends:
                        if precision != "fp32" and backend != "compiled":
                            continue
                        for planner in self._planners(backend):
                            cell = Cell(model, batch, precision, backend, planner, self.seed,
                                        self.warmup, self.repeat, self.budget_s)
                            seen.setdefault(cell.key, cell)
        return tuple(seen.values())

    def _planners(self, backend: str) -> tuple[str, ...]:
        return self.planners if backend == "compiled" else (NOT_APPLICABLE,)


# -- parsing what a user typed -------------------------------------------------------------------

def parse_list(option: str, text: str) -> tuple[str, ...]:
    """`a,b,c` as a tuple without repeats, in the order given; empty items refused."""
    items = [s.strip() for s in text.split(",")]
    if not text.strip() or any(not s for s in items):
        raise UserInputError(f"{option} {text!r}: expected a comma-separated list")
    return tuple(dict.fromkeys(items))


def parse_batches(text: str) -> tuple[int, ...]:
    values = []
    for item in parse_list("--batch", text):
        try:
            value = int(item)
        except ValueError:
            raise UserInputError(f"--batch: {item!r} is not an integer") from None
        if not 0 < value <= MAX_BATCH:
            raise UserInputError(f"--batch: {value} is not between 1 and {MAX_BATCH}")
        values.append(value)
    return tuple(values)


def check_models(models: Sequence[str]) -> None:
    from mlxa.models.zoo import ZOO

    unknown = [m for m in models if m not in ZOO]
    if unknown:
        raise UserInputError(f"--models: unknown model {unknown[0]!r}; known: {', '.join(ZOO)}")


def check_precisions(precisions: Sequence[str]) -> None:
    for p in precisions:
        if p not in PRECISIONS:
            raise UserInputError(f"--precision: unknown precision {p!r}; available: "
                                 f"{', '.join(PRECISIONS)}")


def check_planners(planners: Sequence[str]) -> None:
    from mlxa.planners import PLANNERS

    for p in planners:
        if p not in PLANNERS:
            raise UserInputError(f"--planner: unknown planner {p!r}; known: "
                                 f"{', '.join(PLANNERS)}")


def check_backends(backends: Sequence[str]) -> None:
    for b in backends:
        if b not in BACKENDS:
            raise UserInputError(f"--backend: unknown backend {b!r}; known: {', '.join(BACKENDS)}")
    if "onnxruntime" in backends and not backend_installed("onnxruntime"):
        raise UserInputError("--backend onnxruntime needs onnx and onnxruntime: "
                             "pip install 'mlxa[onnx]'")


def backend_installed(backend: str) -> bool:
    if backend != "onnxruntime":
        return True
    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))
