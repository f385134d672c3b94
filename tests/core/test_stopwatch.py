"""Seconds by part: a nested call of the same part counts once."""

from __future__ import annotations

import time

from pipeline.core import stopwatch


def test_a_nested_part_counts_its_time_once() -> None:
    stopwatch.reset()

    @stopwatch.timed("part")
    def inner() -> None:
        time.sleep(0.05)

    @stopwatch.timed("part")
    def outer() -> None:
        inner()
        inner()

    started = time.perf_counter()
    outer()
    elapsed = time.perf_counter() - started
    counted = stopwatch.seconds_by_part()["part"]
    # counted once: the outer call's time (each level counted would be about twice that)
    assert 0.1 <= counted <= elapsed + 0.01
    stopwatch.reset()
