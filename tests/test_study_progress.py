"""Progress of the planner search and the case studies: each top-level function tells its callback
of its units of work (cells, convs, cases, steps, seconds against a budget), each stage ending at
its total; `mlxa plan` draws a bar on a terminal and nothing in a pipe."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from ceilings_fake import fake_ceilings, fake_clock
from cli_helpers import run_cli
from test_progress import _stderr_on_a_terminal

Heard = list[tuple[str, float, "float | None"]]

# The greedy planners need 544 bytes or more; the search finds 528 and proves it (test_plan_cli).
ROWS = [(3, 4, 128), (0, 3, 96), (5, 6, 16), (7, 11, 48), (4, 8, 64), (1, 7, 96), (2, 3, 64),
        (0, 5, 64), (1, 6, 112), (5, 11, 80), (2, 6, 96)]
SEARCH = "id,lower,upper,size\n" + "".join(f"{i},{s},{e},{z}\n" for i, (s, e, z) in
                                           enumerate(ROWS))


def _plan(progress, monkeypatch) -> None:
    from mlxa.planners.contract import Buffer
    from mlxa.planners.outcome import plan_instance

    buffers = [Buffer(i, s, e, z) for i, (s, e, z) in enumerate(ROWS)]
    plan_instance(buffers, "rows", time_limit_s=2.0, use_cpsat=False, progress=progress)


def _fusion(progress, monkeypatch) -> None:
    from mlxa.studies.fusion import CHAINS, StudyConfig, run_study

    config = StudyConfig(sizes=(16 << 10, 32 << 10), backends=("numpy",), min_trials=2,
                         size_budget_s=0.0)
    run_study(CHAINS[:2], config, clock=fake_clock(), progress=progress)


def _layout(progress, monkeypatch) -> None:
    from mlxa.studies.layout import Config, run_study

    run_study(Config(("resnet18",), image=32, conv_budget_s=0.001, backends=("mlxa",)),
              progress=progress)


def _sparsity(progress, monkeypatch) -> None:
    from mlxa.studies import sparsity
    from mlxa.studies import sparsity_models as models

    # the measurements are studied elsewhere; here only the steps between them count
    monkeypatch.setattr(sparsity, "measure_break_even", lambda *a: None)
    monkeypatch.setattr(models, "runtime_zeros", lambda *a: ())
    monkeypatch.setattr(models, "channel_pruning", lambda *a: None)
    sparsity.run_study(sparsity.Config(model="small_cnn", image=28, accuracy=False),
                       progress=progress)


def _kernels(progress, monkeypatch) -> None:
    from mlxa.studies.kernels import run_cases

    run_cases(["conv1x1_relu6"], budget_s=0.02, backends_on=(), progress=progress)


def _quantize(progress, monkeypatch) -> None:
    from mlxa.models.mlp import MLPConfig, mlp
    from mlxa.studies.quantization import Settings, study

    graph = mlp(MLPConfig(batch=2, in_features=8, hidden=16, out_features=4))
    batches = [(np.random.default_rng(i).standard_normal((2, 8)).astype(np.float32),)
               for i in range(2)]
    study(graph, "mlp", Settings(budget_s=0.05, ort=False), batches, batches, progress=progress)


def _machine(progress, monkeypatch) -> None:
    from mlxa.machine.probe import QUICK, measure

    measure(QUICK, "fp", {}, 1, progress=progress)


def _roofline(progress, monkeypatch) -> None:
    from mlxa.analysis.roofline_run import PeakProbe, measure_roofline
    from mlxa.models.zoo import build

    graph = build("small_cnn", 1, 0)
    x = np.zeros(graph.inputs[0].shape, np.float32)
    measure_roofline(graph, (x,), fake_ceilings(), {"name": "small_cnn"}, budget_s=0.0,
                     probe=PeakProbe(64), clock=fake_clock(), progress=progress)


STUDIES: dict[str, Callable] = {"plan": _plan, "fusion": _fusion, "layout": _layout,
                                "sparsity": _sparsity, "kernels": _kernels,
                                "quantize": _quantize, "machine": _machine,
                                "roofline": _roofline}


@pytest.mark.parametrize("name", STUDIES)
def test_each_stage_reports_done_reaching_total(name, monkeypatch) -> None:
    heard: Heard = []
    STUDIES[name](lambda stage, done, total: heard.append((stage, done, total)), monkeypatch)
    stages = list(dict.fromkeys(s for s, _, _ in heard))
    assert stages, f"{name} reported no progress"
    for stage in stages:
        updates = [(d, t) for s, d, t in heard if s == stage]
        assert all(t is not None and 0 <= d <= t for d, t in updates), (stage, updates)
        assert [d for d, _ in updates] == sorted(d for d, _ in updates), (stage, updates)
        assert updates[-1][0] == updates[-1][1], (stage, updates)  # ends at its total


def test_plan_in_a_pipe_draws_nothing(tmp_path) -> None:
    path = tmp_path / "search.csv"
    path.write_text(SEARCH)
    proc = run_cli("plan", str(path), "--time-limit", "2", "--no-cpsat")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_plan_on_a_terminal_draws_a_bar(tmp_path) -> None:
    pytest.importorskip("rich")
    path = tmp_path / "search.csv"
    path.write_text(SEARCH)
    code, err = _stderr_on_a_terminal("plan", str(path), "--time-limit", "2", "--no-cpsat")
    assert code == 0, err
    assert "planning" in err and "left" in err, err
