"""The interleaved timers of profile/latency.py: every runner timed in turns, each step's median
in the order given, warm-up calls outside the timed ones."""

from __future__ import annotations

from mlxa.profile.latency import measure_interleaved, median_seconds


def test_median_seconds_keeps_the_order_and_tells_a_slow_step_from_a_fast_one() -> None:
    calls = {"fast": 0, "slow": 0}

    def fast() -> None:
        calls["fast"] += 1

    def slow() -> None:
        calls["slow"] += 1
        sum(range(20000))

    t_slow, t_fast = median_seconds([slow, fast], repeat=9, warmup=2)
    assert t_slow > t_fast > 0
    assert calls == {"fast": 11, "slow": 11}  # 2 warm-up + 9 timed each


def test_interleaved_turns_alternate_the_runners() -> None:
    order: list[str] = []
    measure_interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")},
                        warmup=0, repeat=3)
    assert order == ["a", "b"] * 3
