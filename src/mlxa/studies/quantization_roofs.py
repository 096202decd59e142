"""The quantization study against this machine's two roofs: FP32 and INT8 achieved throughput of
the conv/matmul work, in mlxa and ONNX Runtime, beside the FP32 peak (BLAS) and the INT8 peak
(ONNX Runtime's MatMulInteger on VNNI/AMX) that `mlxa machine` measured and cached.

achieved ops/s = the FLOPs of the model's conv, gemm and matmul nodes (a multiply-add counts two,
integer or float alike) / the time those op kinds took in the run's per-op attribution. The peaks
were measured with the ceilings' thread count; the study runs with its own, so each peak is
scaled by min(study threads, ceilings threads) / ceilings threads (linear in cores: an
assumption, stated in the note). Reads the cache only: `ceilings_or_note` never measures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlxa.machine.ceilings import Ceilings

LINEAR_KINDS = ("conv", "gemm/matmul")
FAR = 0.25  # below this share of its roof, a side is called far from it
SIDES = (("mlxa", "fp32", "attribution", "fp32_ms"), ("mlxa", "int8", "attribution", "int8_ms"),
         ("ort", "fp32", "ort_attribution", "fp32_ms"),
         ("ort", "int8", "ort_attribution", "int8_ms"))


@dataclass(frozen=True)
class Achieved:
    """One runtime at one precision: the conv/matmul time and the rate it reached, against the
    roof of its precision (None: this machine has no measured INT8 roof)."""

    runtime: str
    precision: str
    linear_ms: float
    ops_per_s: float
    roof_ops_per_s: float | None
    roof_share: float | None


@dataclass(frozen=True)
class Roofs:
    fp32_peak_ops_per_s: float
    int8_peak_ops_per_s: float | None
    how: str
    linear_flops: int
    achieved: tuple[Achieved, ...]
    notes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def ceilings_or_note(path: str | None) -> tuple[Ceilings | None, str]:
    """The ceilings in `path` (a machine.json), else the cached ones of this machine (in
    $MLXA_CACHE_DIR when set), else None; and a line saying which."""
    if path is not None:
        from mlxa.machine.cache import ceilings_for

        return ceilings_for(path)
    from mlxa.machine.cache import cache_path, fingerprint, load_cached, machine_description
    from mlxa.machine.probe import ProbeConfig

    fp = fingerprint(machine_description())
    cached: Path = cache_path(fp, ProbeConfig())
    ceilings = load_cached(cached, fp)
    if ceilings is None:
        return None, ("no ceilings: run `mlxa machine` once (cached per machine) or pass "
                      "--ceilings FILE to set the runs against the FP32 and INT8 roofs")
    return ceilings, f"ceilings read from the cache {cached}"


def roofs(study: Mapping[str, Any], ceilings: Ceilings, threads: int) -> Roofs:
    """The study's (JSON data) four sides against the two roofs, and why each is where it is."""
    scale = min(threads, ceilings.threads) / ceilings.threads
    fp32 = ceilings.fp32.ops_per_s * scale
    int8 = ceilings.int8.ops_per_s * scale if ceilings.int8 is not None else None
    flops = int(study["linear_flops"])
    achieved = tuple(a for a in (_side(study, flops, side, fp32, int8) for side in SIDES) if a)
    how = (f"FP32 {ceilings.fp32.how}; INT8 "
           f"{ceilings.int8.how if ceilings.int8 else ceilings.int8_note or 'not measured'}; "
           f"peaks scaled to {min(threads, ceilings.threads)} of {ceilings.threads} threads")
    notes = _notes(achieved, int8) + _above(achieved, ceilings.warnings)
    return Roofs(fp32, int8, how, flops, achieved, tuple(notes))


def _side(study: Mapping[str, Any], flops: int, side: tuple[str, str, str, str], fp32: float,
          int8: float | None) -> Achieved | None:
    runtime, precision, table, column = side
    ms = sum(r[column] for r in study.get(table) or () if r["kind"] in LINEAR_KINDS)
    if ms <= 0 or flops <= 0:
        return None
    rate = flops / (ms / 1e3)
    roof = fp32 if precision == "fp32" else int8
    return Achieved(runtime, precision, ms, rate, roof, rate / roof if roof else None)


def _notes(achieved: tuple[Achieved, ...], int8_peak: float | None) -> list[str]:
    by = {(a.runtime, a.precision): a for a in achieved}
    notes = []
    if int8_peak is None:
        notes.append("no INT8 roof on this machine (no VNNI/AMX, or ONNX Runtime missing when "
                     "`mlxa machine` ran): the INT8 runs are set against nothing")
    mlxa8 = by.get(("mlxa", "int8"))
    if mlxa8 is not None and int8_peak and (mlxa8.roof_share or 0) <= 1:
        notes.append(f"mlxa INT8 at {_pct(mlxa8.roof_share)} of the INT8 roof: its integer "
                     f"kernels are reference kernels whose int32 accumulation runs in float64 "
                     f"BLAS (numpy has no int8 GEMM), so they can reach at most the FP64 rate, "
                     f"far below what VNNI/AMX give")
    ort8, ort32 = by.get(("ort", "int8")), by.get(("ort", "fp32"))
    if ort8 is not None and int8_peak and (ort8.roof_share or 0) <= 1:
        why = ("ONNX Runtime's QLinearConv/QGemm run on VNNI (u8 x s8 dot products) but small "
               "layers pay per-call packing, im2col and requantization outside the GEMM"
               if (ort8.roof_share or 0) < FAR else
               "ONNX Runtime's integer kernels run on VNNI/AMX, near the roof")
        notes.append(f"ONNX Runtime INT8 at {_pct(ort8.roof_share)} of the INT8 roof: {why}")
    if ort32 is not None and (ort32.roof_share or 0) <= 1:
        far = (ort32.roof_share or 0) < FAR
        notes.append(f"ONNX Runtime FP32 at {_pct(ort32.roof_share)} of the FP32 roof"
                     + (": small convolutions and per-op overhead keep it from BLAS's large-"
                        "matrix rate" if far else ""))
    return notes


def _above(achieved: tuple[Achieved, ...], warnings: tuple[str, ...]) -> list[str]:
    """A run faster than its roof means the roof was measured low, not that it was beaten."""
    above = [f"{a.runtime} {a.precision.upper()}" for a in achieved if (a.roof_share or 0) > 1]
    if not above:
        return []
    told = f" (they warned: {'; '.join(warnings)})" if warnings else ""
    return [f"{', '.join(above)} above the roof: the ceilings were measured low{told}; "
            f"re-measure with `mlxa machine --refresh` on a quiet machine"]


def _pct(share: float | None) -> str:
    return "?" if share is None else f"{100 * share:.1f}%"


def attach_roofs(models: list[dict[str, Any]], path: str | None, threads: int) -> str:
    """Each study's JSON data gains "roofs" (None without ceilings); returns the line saying
    where the ceilings came from, or that there are none."""
    ceilings, note = ceilings_or_note(path)
    for data in models:
        data["roofs"] = roofs(data, ceilings, threads).to_json() if ceilings else None
    return note
