"""Where the compiled executor's speedup over eager comes from, by ablation: the full
configuration, then each technique switched off in turn, timed against each other and against
eager and ONNX Runtime in one interleaved run (profile/latency.py interleaved_medians).

A technique's figure is `off / full`: how much slower the model runs without it (1.00: it buys
nothing here). Techniques interact, so these ratios do not multiply up to the total: in-place
is what lets an epilogue be absorbed (kernels/plan.py), and without fusion there is no fused
bias + GELU group for its Numba kernel to bind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from mlxa.compiler import CompileOptions
from mlxa.kernels import library  # noqa: F401  (registers the kernels)
from mlxa.kernels.registry import KERNELS

FULL = CompileOptions()  # every custom kernel on offer (the default)


def _without(technique: str) -> CompileOptions:
    return dataclasses.replace(FULL, kernels=tuple(k.name for k in KERNELS.values()
                                                   if k.technique != technique))


# label -> options; "full" first, then one technique off per row
CONFIGS: dict[str, CompileOptions] = {
    "full": FULL,
    "-planning/in-place": dataclasses.replace(FULL, inplace=False, planner="no_reuse"),
    "-fusion": dataclasses.replace(FULL, fuse=False),
    "-prepacking": _without("prepack"),
    "-epilogues": _without("epilogue"),
    "-numba kernels": _without("numba"),
    "-llvm microkernels": _without("llvm"),
    "no custom kernels": CompileOptions(kernels=()),
}


@dataclass(frozen=True)
class AblationRow:
    """One model at one batch: median ms of eager, each configuration and ONNX Runtime (None:
    not installed), and whether every configuration passed the oracle."""

    model: str
    batch: int
    eager_ms: float
    config_ms: dict[str, float]
    ort_ms: float | None
    passed: bool
    kernels: tuple[str, ...]

    def ratio(self, label: str) -> float:
        return self.config_ms[label] / self.config_ms["full"]


def run_ablation(model: str, batch: int, threads: int, repeat: int = 10, rounds: int = 3,
                 configs: Sequence[str] = tuple(CONFIGS)) -> AblationRow:
    from mlxa.compare.ort import ort_runner
    from mlxa.models.zoo import build
    from mlxa.oracle import check
    from mlxa.profile.latency import interleaved_medians
    from mlxa.runtime.compiled import compile_model
    from mlxa.runtime.eager import EagerModel

    graph = build(model, batch=batch)
    x = np.random.default_rng(0).standard_normal(graph.inputs[0].shape).astype(np.float32)
    eager = EagerModel(graph)
    want = tuple(np.array(a) for a in eager(x))
    models = {label: compile_model(graph, CONFIGS[label]) for label in configs}
    passed = all(check(graph, [x], want, m(x)).passed for m in models.values())
    runners: dict[str, Callable[[], Any]] = {"eager": lambda: eager(x)}
    runners.update({label: partial(m, x) for label, m in models.items()})
    ort = ort_runner(graph, (x,), threads)
    if ort is not None:
        runners["ort"] = ort
    ms = interleaved_medians(runners, repeat, rounds)
    full = models.get("full")
    chosen = full.kernel_lines() if full else ()
    return AblationRow(model, batch, ms["eager"], {k: ms[k] for k in configs}, ms.get("ort"),
                       passed, chosen)


def _ms(value: float) -> str:
    """Milliseconds to two decimals, or three significant digits below 1 (a 4 us model)."""
    return f"{value:.2f}" if value >= 1 else f"{value:.3g}"


def render_rows(rows: Sequence[AblationRow]) -> str:
    """The table: eager / full, each technique's off / full, full / ORT."""
    labels = [c for c in rows[0].config_ms if c != "full"] if rows else []
    head = (f"{'model':<13}{'batch':>6}{'eager ms':>10}{'full ms':>9}{'ORT ms':>8}"
            f"{'eager/full':>11}" + "".join(f"{lb:>20}" for lb in labels)
            + f"{'full/ORT':>10}{'oracle':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        ort = _ms(r.ort_ms) if r.ort_ms else "n/a"
        vs_ort = f"{r.config_ms['full'] / r.ort_ms:.2f}" if r.ort_ms else "n/a"
        lines.append(f"{r.model:<13}{r.batch:>6}{_ms(r.eager_ms):>10}{_ms(r.config_ms['full']):>9}"
                     f"{ort:>8}{r.eager_ms / r.config_ms['full']:>10.2f}x"
                     + "".join(f"{r.ratio(lb):>19.2f}x" for lb in labels)
                     + f"{vs_ort:>10}{'PASS' if r.passed else 'FAIL':>8}")
    lines.append("each '-technique' column: median with it off / median with everything on "
                 "(>1: the technique pays); medians of interleaved rounds")
    return "\n".join(lines)
