"""Helpers shared by the benchmark scripts: interleaved timing and the reference inputs.

Benchmarks compare two implementations as a ratio measured in the same run, on the same
inputs, interleaving the two so that a burst of load on a shared machine hits both.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def time_call(fn: Callable[[], object], units: Callable[[object], float] | None = None) -> float:
    """Seconds one call of ``fn`` takes, divided by ``units(result)`` when given
    (e.g. the number of optimisation steps the call took)."""
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    return seconds / units(result) if units else seconds


def compare(ours: Callable[[], object], theirs: Callable[[], object], *, repeats: int = 7,
            warmup: int = 1, units: Callable[[object], float] | None = None) -> dict[str, float]:
    """Median and range of both timings (ms, per unit when ``units`` is given), interleaved,
    and the ratio of medians ours/theirs."""
    for _ in range(warmup):
        ours()
        theirs()
    a, b = [], []
    for _ in range(repeats):
        a.append(time_call(ours, units))
        b.append(time_call(theirs, units))
    return {"ours_ms": 1e3 * statistics.median(a), "ours_min_ms": 1e3 * min(a),
            "ours_max_ms": 1e3 * max(a), "theirs_ms": 1e3 * statistics.median(b),
            "theirs_min_ms": 1e3 * min(b), "theirs_max_ms": 1e3 * max(b),
            "ratio": statistics.median(a) / statistics.median(b), "repeats": repeats}


def print_rows(rows: list[dict]) -> None:
    """The rows of a benchmark's ``run()``, one line each."""
    for row in rows:
        print(f"{row['method']:40s} ours {row['ours_ms']:9.1f} ms  theirs {row['theirs_ms']:9.1f} ms  "
              f"ratio {row['ratio']:.2f}  max|diff| {row['max_abs_diff']:.2e}")


def reference_batch(size: int):
    """The book's reference CNN and ``size`` test digits of every class, seeded."""
    from sedl import data, models, repro

    repro.set_seed(0)
    model = models.pretrained("mnist_cnn", seed=0)
    x, y = data.mnist("test")
    step = len(x) // size  # the split is grouped by class: stride through it
    return model, x[::step][:size], y[::step][:size]
