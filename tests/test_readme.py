"""The README's two fresh-machine commands: CI runs the test command exactly as written."""

from __future__ import annotations

from cli_helpers import ROOT


def fresh_machine_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two commands on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return [line.strip() for line in section.splitlines() if line.startswith("    ")]


def test_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    main_job, tests = fresh_machine_commands()
    assert 'analyze.py --input "0.5, 1.2, -0.3" --batch 32 --mode both' in main_job
    assert "pytest" in tests and "[all,test]" in tests
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci
