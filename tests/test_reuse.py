"""analysis/reuse.py: reuse distances as LRU stack distances in bytes over repeated rounds."""

from __future__ import annotations

from mlxa.analysis.reuse import BLOCK, Span, reuse_distances

K = 16 * BLOCK


def test_producer_then_consumer_is_near_and_a_weight_is_a_round_away():
    # call 0 reads weight W (at 0) and writes A (at 1 MiB); call 1 reads A and writes B
    w, a, b = Span(0, K, True), Span(1 << 20, K, False), Span(2 << 20, K, False)
    calls = [[w, a], [Span(1 << 20, K, True), b]]
    dist = reuse_distances(calls)
    assert dist[1][0] == 0  # A is read right after it was written
    assert dist[0][0] == 2 * K  # between two reads of W: A and B, once each
    assert dist[0][1] == 0 and dist[1][1] == 0  # written only


def test_memory_reused_by_a_planner_counts_once():
    # five calls each write their own buffer, then the first buffer is read: distance 4 buffers;
    # with the buffers at one address (a plan reusing memory) nothing else lies between
    def calls(stride: int) -> list[list[Span]]:
        out = [[Span(10 << 20, K, True), Span(0, K, False)]]
        out += [[Span(k * stride, K, False)] for k in range(1, 5)]
        return out + [[Span(0, K, True)]]
    assert reuse_distances(calls(1 << 20))[-1][0] == 4 * K  # the input shares call 0's time
    assert reuse_distances(calls(0))[-1][0] == 0


def test_distance_of_the_least_recently_touched_block():
    # the second half of X is touched again midway, the first half is not: X's distance is the
    # first half's
    x = Span(0, 2 * K, True)
    calls = [[x], [Span(1 << 20, K, False)], [Span(K, K, True)], [Span(2 << 20, K, False)], [x]]
    assert reuse_distances(calls)[-1][0] == 2 * K + K  # both others, and X's own recent half


def test_no_spans():
    assert reuse_distances([[], [Span(0, 0, True)]]) == [[], [0]]
