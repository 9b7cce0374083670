"""Timing helpers shared by the benchmark scripts.

Benchmarks compare two implementations as a ratio measured in the same run, on the same
inputs, interleaving the two so that a burst of load on a shared machine hits both.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def time_call(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(ours: Callable[[], object], theirs: Callable[[], object], *, repeats: int = 7,
            warmup: int = 1) -> dict[str, float]:
    """Median and range of both timings, interleaved, and the ratio of medians ours/theirs."""
    for _ in range(warmup):
        ours()
        theirs()
    a, b = [], []
    for _ in range(repeats):
        a.append(time_call(ours))
        b.append(time_call(theirs))
    return {"ours_ms": 1e3 * statistics.median(a), "ours_min_ms": 1e3 * min(a),
            "ours_max_ms": 1e3 * max(a), "theirs_ms": 1e3 * statistics.median(b),
            "theirs_min_ms": 1e3 * min(b), "theirs_max_ms": 1e3 * max(b),
            "ratio": statistics.median(a) / statistics.median(b)}
