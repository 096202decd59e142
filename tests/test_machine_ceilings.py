"""mlxa machine: plateaus found on a curve, the roof formula, the theoretical peak, the cache
keyed by fingerprint, and the command (a quick sweep)."""

from __future__ import annotations

import json
import math

import pytest
from ceilings_fake import CURVE, PEAK_FLOPS, fake_ceilings
from cli_helpers import run_cli

from mlxa.machine import cache
from mlxa.machine.ceilings import (
    Ceilings,
    TheoreticalPeak,
    find_plateaus,
    roof_flops_per_s,
    roof_time_s,
)


def test_plateaus_of_a_synthetic_curve():
    sizes = [ws for ws, _ in CURVE]
    rates = [gbs * 1e9 for _, gbs in CURVE]
    plateaus = find_plateaus(sizes, rates)
    assert [p.name for p in plateaus] == ["cache1", "cache2", "cache3", "DRAM"]
    assert [round(p.copy_bytes_per_s / 1e9) for p in plateaus] == [91, 60, 30, 8]
    assert plateaus[1].first_nbytes == 128 << 10 and plateaus[1].last_nbytes == 1 << 20
    assert plateaus[-1].last_nbytes == sizes[-1]


def test_plateaus_survive_noise_and_order():
    sizes = [ws for ws, _ in CURVE]
    noise = [1.0, 1.06, 0.95, 1.04, 0.97, 1.05, 0.96, 1.0] * 2
    plateaus = find_plateaus(sizes, [gbs * 1e9 * k for (_, gbs), k in zip(CURVE, noise)])
    assert len(plateaus) == 4
    for a, b in zip(plateaus, plateaus[1:]):
        assert a.last_nbytes < b.first_nbytes
        assert a.copy_bytes_per_s > b.copy_bytes_per_s


def test_a_flat_curve_is_one_plateau():
    assert [p.name for p in find_plateaus([1, 2, 4], [5.0, 5.1, 4.9])] == ["DRAM"]


def test_roof_formula():
    peak, bw = 100e9, 10e9
    ridge = peak / bw
    assert roof_flops_per_s(ridge, peak, bw) == pytest.approx(peak)
    assert roof_flops_per_s(ridge / 4, peak, bw) == pytest.approx(bw * ridge / 4)
    assert roof_flops_per_s(ridge * 4, peak, bw) == peak
    assert roof_time_s(1e9, 1e6, peak, bw) == pytest.approx(1e9 / peak)
    assert roof_time_s(1e6, 1e9, peak, bw) == pytest.approx(1e9 / bw)


def test_bandwidth_at_interpolates_between_points():
    c = fake_ceilings()
    assert c.bandwidth_at(1 << 20) == pytest.approx(60e9)
    assert c.bandwidth_at(1) == pytest.approx(90e9)
    assert c.bandwidth_at(1 << 40) == pytest.approx(7.9e9)
    mid = c.bandwidth_at(int(math.sqrt((1 << 20) * (2 << 20))))
    assert 45e9 < mid < 60e9
    assert c.peak_flops_per_s == PEAK_FLOPS


def test_theoretical_peak_formula():
    t = TheoreticalPeak(cores=2, ghz=2.5, ghz_source="", simd_lanes=8, fma_units=2,
                        assumption="")
    assert t.flops_per_s == 2 * 2.5e9 * 8 * 2 * 2


def test_ceilings_json_round_trip():
    c = fake_ceilings()
    assert Ceilings.from_json(json.loads(json.dumps(c.to_json()))) == c


def test_cache_hit_and_miss_by_fingerprint(tmp_path, monkeypatch):
    monkeypatch.setenv("MLXA_CACHE_DIR", str(tmp_path))
    machine = {"cpu": "A", "flags": ["avx2"], "cpus": 2}
    monkeypatch.setattr(cache, "machine_description", lambda: dict(machine))
    measured = []

    def measure(config, fp, description, threads, clock, progress=None):
        measured.append(fp)
        return fake_ceilings(fingerprint=fp)

    monkeypatch.setattr(cache, "measure", measure)
    first, path, hit = cache.get_ceilings()
    assert not hit and path.parent == tmp_path and path.exists()
    second, _, hit = cache.get_ceilings()
    assert hit and second == first and len(measured) == 1
    machine["flags"] = ["avx2", "avx512f"]  # another machine: another fingerprint
    third, path3, hit = cache.get_ceilings()
    assert not hit and path3 != path and third.fingerprint != first.fingerprint
    _, _, hit = cache.get_ceilings(refresh=True)
    assert not hit and len(measured) == 3
    path3.write_text("{not json")  # a corrupt cache is measured again, not an error
    _, _, hit = cache.get_ceilings()
    assert not hit and len(measured) == 4


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("MLXA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.cache_dir() == tmp_path / "mlxa"


def test_machine_command_quick_json_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MLXA_CACHE_DIR", str(tmp_path / "cache"))
    proc = run_cli("machine", "--quick", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    ceilings = Ceilings.from_json(data)
    sizes = [p.working_set_nbytes for p in ceilings.bandwidth]
    assert sizes == sorted(sizes) and ceilings.plateaus
    assert ceilings.fp32.ops_per_s > 0 and ceilings.fp32_theoretical.flops_per_s > 0
    again = run_cli("machine", "--quick")
    assert again.returncode == 0 and "read from the cache" in again.stdout


def test_machine_command_writes_its_files(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("MLXA_CACHE_DIR", str(tmp_path / "cache"))
    proc = run_cli("machine", "--quick", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["machine.json", "machine.txt", "machine_bandwidth.png"]
