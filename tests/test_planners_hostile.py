"""`mlxa plan` and the planners on hostile input: values beyond int64, instances too large for a
strategy's time, interrupts during the CP-SAT search, and broken CSV files. Each case ends in a
valid plan or in one line on stderr (exit 2, 130 or 143) with nothing written, never a
traceback, a hang or a silently wrapped plan."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import ROOT, assert_one_line_error, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlxa.errors import UserInputError
from mlxa.planners import cpsat
from mlxa.planners.contract import Buffer, Plan, lower_bound, validate
from mlxa.planners.instance import parse_instance, random_instance, read_instance
from mlxa.planners.iterated import (
    Arrays,
    _place_scan,
    arena_units,
    greedy_order,
    greedy_plans,
    place_fast,
    stack_rest,
    window_offsets,
)
from mlxa.planners.limits import range_problem
from mlxa.planners.outcome import plan_instance, strategies

HEADER = "id,lower,upper,size\n"
INT64_MAX = (1 << 63) - 1


def _csv(rows: list[tuple[int, int, int]]) -> str:
    return HEADER + "".join(f"{i},{s},{e},{z}\n" for i, (s, e, z) in enumerate(rows))


def _plan_cli(tmp_path: Path, text: str | bytes, *extra: str,
              name: str = "inst.csv") -> subprocess.CompletedProcess:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return run_cli("plan", name, "--out", "offsets.csv", *extra, cwd=tmp_path, timeout=120)


def _refused(tmp_path: Path, text: str | bytes, needle: str, *extra: str) -> None:
    proc = _plan_cli(tmp_path, text, *extra)
    assert_one_line_error(proc, needle)
    assert proc.stdout == "" and not (tmp_path / "offsets.csv").exists()


# --- overflow: refused in one line, or planned exactly in Python ints -------------------------

@pytest.mark.parametrize("rows, extra, needle", [
    ([(0, 2, 1 << 63)], [], "out of range"),
    ([(0, 2, 10 ** 30)], [], "out of range"),
    ([(0, 1 << 63, 8)], [], "out of range"),
    ([(0, 2, 1 << 62), (1, 3, 1 << 62)], [], "exact only up to 2^62"),
    ([(0, 2, INT64_MAX), (5, 6, 1)], ["--strategy", "first_fit"], "exact only up to 2^62"),
    ([(0, 2, 1), (1, 3, 1)], ["--alignment", str(1 << 62)], "exact only up to 2^62"),
    ([(0, 2, 1)], ["--alignment", str(1 << 63)], "alignment"),
])
def test_values_beyond_int64_are_refused(tmp_path: Path, rows: list[tuple[int, int, int]],
                                         extra: list[str], needle: str) -> None:
    _refused(tmp_path, _csv(rows), needle, *extra)


def test_the_largest_exact_values_are_planned_exactly(tmp_path: Path) -> None:
    big = 1 << 60
    rows = [(INT64_MAX - 3, INT64_MAX - 1, big), (INT64_MAX - 2, INT64_MAX, big), (0, 1, 7)]
    proc = _plan_cli(tmp_path, _csv(rows), "--json", "--alignment", "64")
    assert proc.returncode == 0, proc.stderr
    offsets = dict(line.split(",") for line in (tmp_path / "offsets.csv").read_text().split()[1:])
    assert sorted(int(offsets[k]) for k in ("0", "1")) == [0, big]  # no wrap: both fit side by side


@pytest.mark.parametrize("strategy", strategies())
def test_every_strategy_plans_huge_sizes_without_wrapping(strategy: str) -> None:
    size = (1 << 62) // 4  # four of them together just stay within the exact range
    buffers = [Buffer(i, i % 2, i % 2 + 2, size - i) for i in range(4)]
    out = plan_instance(buffers, "huge", strategy, 1, 0.5, use_cpsat=False)
    validate(buffers, out.plan)
    assert out.arena_nbytes >= out.lower_bound_nbytes == 4 * size - 6


@st.composite
def hostile_instances(draw) -> tuple[list[Buffer], int]:
    magnitude = st.one_of(st.integers(0, 64), st.integers(0, 1 << 62), st.just((1 << 62) // 3),
                          st.integers(1 << 62, INT64_MAX))
    n = draw(st.integers(1, 6))
    buffers = []
    for i in range(n):
        start = draw(st.one_of(st.integers(0, 8), st.integers(0, INT64_MAX - 1)))
        end = draw(st.integers(start + 1, min(INT64_MAX, start + draw(magnitude) + 1)))
        buffers.append(Buffer(i, start, end, draw(magnitude)))
    alignment = draw(st.one_of(st.integers(1, 64), st.sampled_from([1 << 40, 1 << 61, 1 << 62])))
    return buffers, alignment


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_instances(), st.sampled_from(["auto", "best", "iterated", "exact", "first_fit"]))
def test_hostile_values_plan_validly_or_are_refused(case: tuple[list[Buffer], int],
                                                    strategy: str) -> None:
    buffers, alignment = case
    try:
        out = plan_instance(buffers, "h", strategy, alignment, 0.2, use_cpsat=False)
    except UserInputError as e:
        assert "2^6" in str(e) and "\n" not in str(e)
        return
    validate(buffers, out.plan, alignment)
    assert max(out.plan.offsets) < 1 << 63 and out.arena_nbytes <= 1 << 62


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_instances())
def test_window_plan_is_valid_on_hostile_values(case: tuple[list[Buffer], int]) -> None:
    buffers, alignment = case
    if range_problem(buffers, alignment) is not None:
        return
    arr = Arrays.of(buffers, alignment)
    offsets = window_offsets(arr)
    validate(buffers, Plan(tuple(int(o) * alignment for o in offsets.tolist()),
                           arena_units(arr, offsets) * alignment, "windows"), alignment)


# --- time limits at every size ---------------------------------------------------------------

def _all_overlapping(n: int) -> list[Buffer]:
    """Every buffer alive with every other: greedy placement is O(n^2) here, and the neighbour
    lists would hold n^2 pairs (so placement scans)."""
    rng = random.Random(0)
    return [Buffer(i, rng.randrange(10), 10 + rng.randrange(10), rng.randint(1, 4096))
            for i in range(n)]


def test_greedy_strategy_out_of_time_says_so(tmp_path: Path) -> None:
    rows = [(b.start, b.end, b.nbytes) for b in _all_overlapping(20_000)]
    t0 = time.monotonic()
    _refused(tmp_path, _csv(rows), "cannot place 20,000 buffers within the time limit",
             "--strategy", "greedy_by_size", "--time-limit", "0.3")
    assert time.monotonic() - t0 < 30  # about 0.3 s of planning, plus reading and start-up


@pytest.mark.parametrize("strategy", ["auto", "iterated", "exact"])
def test_searching_strategies_keep_the_time_limit_on_a_large_instance(strategy: str) -> None:
    buffers = _all_overlapping(20_000)
    t0 = time.monotonic()
    out = plan_instance(buffers, "big", strategy, 1, 1.0)
    elapsed = time.monotonic() - t0
    validate(buffers, out.plan)
    assert out.arena_nbytes <= sum(b.nbytes for b in buffers)
    assert elapsed < 1.0 + 6.0, elapsed  # the limit plus validating 20,000 buffers (busy CI)


def test_neighbour_lists_place_as_the_scan_does() -> None:
    rng = random.Random(3)
    buffers = []
    for i in range(600):
        start = rng.randrange(300)
        buffers.append(Buffer(i, start, start + rng.randint(1, 40), rng.choice([0, 1, 7, 300])))
    arr = Arrays.of(buffers, 4)
    assert arr.neighbours is not None
    for name in ("greedy_by_size", "greedy_by_lifetime", "greedy_by_area", "first_fit"):
        order, best_fit = greedy_order(arr, name)
        fast = place_fast(arr, order, best_fit)
        scan = _place_scan(arr, order, best_fit, np.zeros(len(buffers), np.int64), None, None,
                           None)
        assert fast.tolist() == scan.tolist(), name


def test_a_greedy_cut_short_keeps_its_placements_and_stacks_the_rest() -> None:
    rng = random.Random(5)
    buffers = [Buffer(i, s, s + rng.randint(1, 30), rng.randint(0, 500))
               for i, s in enumerate(rng.randrange(400) for _ in range(2000))]
    arr = Arrays.of(buffers, 1)
    order, _ = greedy_order(arr, "greedy_by_size")
    full = place_fast(arr, order, True)
    half = stack_rest(arr, place_fast(arr, order[:1000], True), order[1000:].tolist())
    assert half[order[:1000]].tolist() == full[order[:1000]].tolist()
    plans = greedy_plans(arr, deadline=time.monotonic() - 1)  # no time at all
    assert list(plans) == ["greedy_by_size_partial"]
    for offsets in (half, plans["greedy_by_size_partial"]):
        validate(buffers, Plan(tuple(offsets.tolist()), arena_units(arr, offsets), "cut"))


def test_window_plan_is_a_few_times_the_bound_where_no_reuse_is_hundreds() -> None:
    buffers = random_instance(20_000, seed=4)
    arr = Arrays.of(buffers, 1)
    offsets = window_offsets(arr)
    plan = Plan(tuple(offsets.tolist()), arena_units(arr, offsets), "windows")
    validate(buffers, plan)
    bound = lower_bound(buffers)
    assert plan.arena_nbytes < 8 * bound < sum(b.nbytes for b in buffers) / 10


# --- interrupts during the CP-SAT search ------------------------------------------------------

def _tight_rows(n: int, seed: int) -> list[tuple[int, int, int]]:
    """A 1000-step x 1 MiB strip cut into n rectangles (a perfect packing), then every seventh
    buffer made 999 bytes larger: the search can neither reach the bound nor prove it soon."""
    rng = random.Random(seed)
    rects = [(0, 1000, 0, 1 << 20)]
    while len(rects) < n:
        t0, t1, b0, b1 = rects.pop(rng.randrange(len(rects)))
        if rng.random() < 0.5 and t1 - t0 > 1:
            cut = rng.randint(t0 + 1, t1 - 1)
            rects += [(t0, cut, b0, b1), (cut, t1, b0, b1)]
        elif b1 - b0 > 1:
            cut = rng.randint(b0 + 1, b1 - 1)
            rects += [(t0, t1, b0, cut), (t0, t1, cut, b1)]
        else:
            rects.append((t0, t1, b0, b1))
    return [(t0, t1, b1 - b0 + (i % 7 == 0) * 999) for i, (t0, t1, b0, b1) in enumerate(rects)]


@pytest.mark.skipif(not cpsat.available(), reason="CP-SAT (ortools) not installed")
@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"),
                                             (signal.SIGTERM, 143, "terminated")])
def test_signal_during_cpsat_search_exits_cleanly(tmp_path: Path, sig: int, code: int,
                                                  word: str) -> None:
    (tmp_path / "hard.csv").write_text(_csv(_tight_rows(400, 2)))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen([sys.executable, "-m", "mlxa", "plan", "hard.csv", "--time-limit",
                             "60", "--out", "offsets.csv", "--plot", "plot.png"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)  # start-up and heuristics take about a second; then the search runs
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(sig)
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, err, out) == (code, f"mlxa: error: {word}\n", "")
    assert time.monotonic() - t0 < 5  # CP-SAT stopped at once, not at its time limit
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hard.csv"]


# --- CSV hostility -----------------------------------------------------------------------------

def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    proc = _plan_cli(tmp_path, "\ufeff" + _csv([(0, 2, 8), (1, 3, 8)]), "--json")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "offsets.csv").read_text().startswith("id,offset\n")


@pytest.mark.parametrize("text, needle", [
    (HEADER + "0,0,2," + "7" * 200_000 + "\n", "field larger than field limit"),
    (HEADER + "0,0,2," + "9" * 5_000 + "\n", "(5,000 characters)' is out of range"),
    ("", "empty file"),
    ("\nid,lower,upper,size\n0,0,2,4\n", "blank first line"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe garbage", "not a UTF-8 text file"),
    (b"\x00\x00\x00\x00", "missing column(s)"),
    (HEADER + "0,0,2,-5\n", "negative size -5"),
    (HEADER + "0,4,4,5\n", "lower 4 is not below upper 4"),
    (HEADER + "0,5,2,5\n", "lower 5 is not below upper 2"),
    (HEADER + "3,0,2,5\n3,1,2,5\n", "duplicate id 3 (first on line 2)"),
    (HEADER + "0,0,2,\x1b[31m\n", "is not an integer"),
    (HEADER + "0,0,2,\u0661\u0662\n", "is not an integer"),
])
def test_broken_csv_is_refused_in_one_line(tmp_path: Path, text: str | bytes,
                                           needle: str) -> None:
    _refused(tmp_path, text, needle)


def test_error_messages_stay_one_short_line() -> None:
    with pytest.raises(UserInputError) as err:
        parse_instance(HEADER + "0,0,2," + "x" * 100_000 + "\n", "a\nb.csv")
    assert len(str(err.value)) < 200
    with pytest.raises(UserInputError) as err:
        read_instance("/nonexistent/x\nFake line")
    assert "\n" not in str(err.value)
    with pytest.raises(UserInputError, match="not a valid path"):
        read_instance("a\x00b.csv")


def test_zero_sizes_plan_to_an_empty_arena(tmp_path: Path) -> None:
    proc = _plan_cli(tmp_path, _csv([(0, 2, 0), (1, 3, 0)]), "--json")
    assert proc.returncode == 0, proc.stderr
    assert '"arena_nbytes": 0' in proc.stdout


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "inst.csv")
    proc = run_cli("plan", "inst.csv", cwd=tmp_path, timeout=60)
    assert_one_line_error(proc, "not a regular file")


def test_instance_over_the_memory_budget_is_refused(tmp_path: Path) -> None:
    (tmp_path / "inst.csv").write_text(_csv([(0, 2, 8)] * 5000))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), MLXA_MEMORY_BUDGET="1000")
    proc = subprocess.run([sys.executable, "-m", "mlxa", "plan", "inst.csv"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert_one_line_error(proc, "instance inst.csv")


def test_an_interrupt_while_cpsat_stops_still_waits_for_its_thread() -> None:
    """The interrupt lands while CP-SAT's thread is finishing after its stop: it is raised only
    once the thread has ended (its own event, not is_alive(), which an interrupt in join can
    leave False in Python 3.11 while the thread runs)."""
    import _thread
    import threading

    from mlxa.planners import exact

    stopped, finished, done = threading.Event(), threading.Event(), threading.Event()

    class Helper:
        def stop(self) -> None:
            stopped.set()

    def work() -> None:
        try:
            stopped.wait(5)
            time.sleep(0.3)  # the solver takes a while to notice the stop
            finished.set()
        finally:
            done.set()

    threading.Thread(target=work, daemon=True).start()
    threading.Timer(0.1, _thread.interrupt_main).start()
    with pytest.raises(KeyboardInterrupt):
        exact._stop_and_join(Helper(), done)  # type: ignore[arg-type]
    assert finished.is_set()
