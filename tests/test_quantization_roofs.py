"""The quantization study against the FP32 and INT8 roofs (studies/quantization_roofs.py): rates
from the per-op attribution, peaks scaled to the study's threads, a note on which side is far
from its roof and why; the cache is only read (never measured); without ceilings a one-line
note; with `--ceilings FILE` the JSON, text and PNG carry the roofs."""

from __future__ import annotations

import dataclasses
import json

import pytest
from ceilings_fake import PEAK_FLOPS, fake_ceilings, spread

from mlxa.cli.main import main
from mlxa.machine.ceilings import ComputePeak
from mlxa.report.machine_text import render_json
from mlxa.studies.quantization_roofs import attach_roofs, ceilings_or_note, roofs

INT8_PEAK = 800e9


def _ceilings(threads: int = 1, int8: bool = True):
    peak = ComputePeak(int(INT8_PEAK), spread(1.0), "fake MatMulInteger") if int8 else None
    return dataclasses.replace(fake_ceilings(), threads=threads, int8=peak)


def _study() -> dict:
    """1 GFLOP of conv/matmul: mlxa 50/500 ms (FP32/INT8), ORT 20/2 ms; relu not counted."""
    rows = [{"kind": "conv", "fp32_ms": 40.0, "int8_ms": 400.0},
            {"kind": "gemm/matmul", "fp32_ms": 10.0, "int8_ms": 100.0},
            {"kind": "relu", "fp32_ms": 5.0, "int8_ms": 0.0}]
    ort = [{"kind": "conv", "fp32_ms": 20.0, "int8_ms": 2.0}]
    return {"linear_flops": 10 ** 9, "attribution": rows, "ort_attribution": ort}


def test_rates_and_shares_of_each_roof() -> None:
    r = roofs(_study(), _ceilings(), threads=1)
    by = {(a.runtime, a.precision): a for a in r.achieved}
    assert by["mlxa", "fp32"].ops_per_s == pytest.approx(1e9 / 0.05)
    assert by["mlxa", "fp32"].roof_share == pytest.approx(20e9 / PEAK_FLOPS)
    assert by["mlxa", "int8"].roof_share == pytest.approx(2e9 / INT8_PEAK)
    assert by["ort", "int8"].roof_share == pytest.approx(500e9 / INT8_PEAK)
    assert any(n.startswith("mlxa INT8 at 0.2% of the INT8 roof") and "float64 BLAS" in n
               for n in r.notes)
    assert any("ONNX Runtime INT8 at 62.5%" in n for n in r.notes)


def test_peaks_scale_to_the_study_threads_and_a_missing_int8_roof_is_said() -> None:
    r = roofs(_study(), _ceilings(threads=4, int8=False), threads=1)
    assert r.fp32_peak_ops_per_s == pytest.approx(PEAK_FLOPS / 4)
    assert r.int8_peak_ops_per_s is None
    assert all(a.roof_share is None for a in r.achieved if a.precision == "int8")
    assert any("no INT8 roof" in n for n in r.notes)


def test_a_run_above_its_roof_blames_the_ceilings() -> None:
    r = roofs(_study(), _ceilings(threads=1), threads=1)
    fast = {**_study(), "ort_attribution": [{"kind": "conv", "fp32_ms": 1.0, "int8_ms": 1.0}]}
    assert not any("above the roof" in n for n in r.notes)
    assert any("ort FP32, ort INT8 above the roof" in n for n in roofs(fast, _ceilings(), 1).notes)


def test_without_ceilings_a_note_and_nothing_is_measured(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLXA_CACHE_DIR", str(tmp_path))
    models = [_study()]
    note = attach_roofs(models, None, threads=1)
    assert note.startswith("no ceilings: run `mlxa machine`")
    assert models[0]["roofs"] is None
    assert list(tmp_path.iterdir()) == []  # nothing measured, nothing cached


def test_a_cached_machine_json_is_read(tmp_path, monkeypatch) -> None:
    from mlxa.machine.cache import cache_path, fingerprint, machine_description
    from mlxa.machine.probe import ProbeConfig

    monkeypatch.setenv("MLXA_CACHE_DIR", str(tmp_path))
    fp = fingerprint(machine_description())
    cache_path(fp, ProbeConfig()).write_text(render_json(fake_ceilings(fingerprint=fp)))
    ceilings, note = ceilings_or_note(None)
    assert ceilings is not None and "read from the cache" in note


def test_quantize_with_a_ceilings_file_reports_the_roofs(capsys, tmp_path, monkeypatch) -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("matplotlib")
    from mlxa.report.quantization_text import render_text

    monkeypatch.setenv("MLXA_CACHE_DIR", str(tmp_path / "cache"))
    machine = tmp_path / "machine.json"
    machine.write_text(render_json(_ceilings()))
    argv = ["quantize", "--model", "digits_cnn", "--budget", "0.2", "--calibration-batches", "8",
            "--ceilings", str(machine), "--out", str(tmp_path), "--name", "d"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    saved = json.loads((tmp_path / "d.json").read_text())
    (study,) = saved["models"]
    assert {(a["runtime"], a["precision"]) for a in study["roofs"]["achieved"]} == {
        ("mlxa", "fp32"), ("mlxa", "int8"), ("ort", "fp32"), ("ort", "int8")}
    assert study["accuracy"]["verdicts"]["mlxa_int8"]["passed"]
    assert "roofs      conv/matmul work" in text and "INT8 roof 800.0 GOP/s" in text
    assert "PASS" in text
    assert (tmp_path / "d.txt").read_text() == render_text(saved) == text
    assert (tmp_path / "d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "cache").exists()
