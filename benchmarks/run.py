"""`make bench`: the book's speed, measured, written to benchmarks/RESULTS.md.

1. Methods against the libraries people would use instead (bench_*.py, each a `run()`
   returning rows with the median and range of both timings, the ratio ours/theirs and
   the largest difference between the results).
2. Where readers launch the pages (launch.py): the Colab install cell's time and the reader
   environment's size.
3. The build as `make book` runs it: a cold full build (empty execution cache, empty model
   cache) and a rebuild with nothing changed, and every page's execution time from the cold build's cache.
4. `.ci/run` from a fresh clone (fresh_clone.py), appended to benchmarks/FRESH_CLONE.md.

Budgets (2 CPU cores): every page <= 60 s, whole book cold <= 8 min, rebuild <= 15 s.
"""

from __future__ import annotations

import datetime
import importlib
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
METHOD_BENCHMARKS = ["bench_attacks", "bench_attribution", "bench_style"]
BUDGET = {"page_s": 60, "cold_s": 8 * 60, "rebuild_s": 15}


def _build(out: Path, env: dict) -> float:
    """`make book` into `out`: the pages executed ahead two at a time, then the Sphinx build."""
    bin_dir = Path(sys.executable).parent
    execute = [str(bin_dir / "python"), str(ROOT / "scripts" / "execute.py"),
               "--cache", str(out / "_build" / ".jupyter_cache")]
    build = [str(bin_dir / "jupyter-book"), "build", str(ROOT), "--path-output",
             str(out), "--warningiserror", "--nitpick", "--keep-going", "--quiet"]
    start = time.perf_counter()
    for cmd in (execute, build):
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _page_times(cache: Path) -> list[tuple[str, float]]:
    from jupyter_cache import get_cache

    rows = [(Path(r.uri).relative_to(ROOT).as_posix(), r.data.get("execution_seconds", float("nan")))
            for r in get_cache(str(cache)).list_cache_records()]
    return sorted(rows, key=lambda row: -row[1])


def build_benchmark() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = os.environ | {"SEDL_CACHE": str(Path(tmp) / "models")}
        cold = _build(Path(tmp) / "out", env)
        rebuild = _build(Path(tmp) / "out", env)
        pages = _page_times(Path(tmp) / "out" / "_build" / ".jupyter_cache")
    return {"cold_s": cold, "rebuild_s": rebuild, "pages": pages}


def method_rows() -> list[dict]:
    rows = []
    for name in METHOD_BENCHMARKS:
        rows += importlib.import_module(name).run()
    return rows


def _machine() -> str:
    import torch

    return (f"{platform.platform()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads)")


def _ok(value: float, budget: float) -> str:
    return "yes" if value <= budget else "**no**"


def launch_lines(launch: dict) -> list[str]:
    import launch as budgets

    lean = launch["without_cuda_gb"]
    return ["\n## Where readers launch the pages\n",
            "| measurement | value | budget | within budget |", "| --- | --- | --- | --- |",
            f"| Colab install cell, warm pip cache (s) | {launch['install_s']:.1f} | "
            f"{budgets.BUDGET['install_s']} | {_ok(launch['install_s'], budgets.BUDGET['install_s'])} |",
            f"| reader environment on disk, as built here (GB) | {launch['reader_gb']:.2f} | | |",
            f"| of which PyTorch's CUDA libraries (GB) | {launch['cuda_gb']:.2f} | | |",
            f"| without them, about what Binder's CPU-only build holds (GB) | {lean:.2f} "
            f"| {budgets.BUDGET['binder_gb']} | {_ok(lean, budgets.BUDGET['binder_gb'])} |"]


def render(methods: list[dict], launch: dict, build: dict | None) -> str:
    lines = ["# Benchmark results\n",
             f"Measured {datetime.date.today().isoformat()} by `make bench` on: {_machine()}.\n",
             "Timings are the median over repeated runs, with the range; ratios are ours/theirs "
             "from the same run on the same model and batch (below 1 means ours is faster).\n",
             "## Methods against reference libraries\n",
             "| method | reference | ours (ms) | theirs (ms) | ratio | max abs difference |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in methods:
        lines.append(f"| {r['method']} | {r['reference']} | {r['ours_ms']:.1f} "
                     f"({r['ours_min_ms']:.1f}–{r['ours_max_ms']:.1f}) | {r['theirs_ms']:.1f} "
                     f"({r['theirs_min_ms']:.1f}–{r['theirs_max_ms']:.1f}) | {r['ratio']:.2f} | "
                     f"{r['max_abs_diff']:.1e} |")
    lines += launch_lines(launch)
    if build is None:  # the build is being measured; the book's status page includes this file
        return "\n".join(lines + ["\n## Building the book\n", "Not measured yet."]) + "\n"
    pages = build["pages"]
    slowest = pages[0] if pages else ("none", float("nan"))
    lines += ["\n## Building the book\n",
              "| measurement | seconds | budget | within budget |", "| --- | --- | --- | --- |",
              f"| cold full build (all pages executed, empty caches) | {build['cold_s']:.0f} | "
              f"{BUDGET['cold_s']} | {_ok(build['cold_s'], BUDGET['cold_s'])} |",
              f"| rebuild with nothing changed | {build['rebuild_s']:.1f} | {BUDGET['rebuild_s']} | "
              f"{_ok(build['rebuild_s'], BUDGET['rebuild_s'])} |",
              f"| slowest page: `{slowest[0]}` | {slowest[1]:.1f} | {BUDGET['page_s']} | "
              f"{_ok(slowest[1], BUDGET['page_s'])} |",
              "\n### Execution time of each page (cold build)\n",
              "| page | seconds |", "| --- | --- |"]
    lines += [f"| `{page}` | {seconds:.1f} |" for page, seconds in pages]
    return "\n".join(lines) + "\n"


def main() -> None:
    results = HERE / "RESULTS.md"
    import fresh_clone
    import launch

    methods, launched = method_rows(), launch.run()
    results.write_text(render(methods, launched, None), encoding="utf-8")  # the cold build includes it
    results.write_text(render(methods, launched, build_benchmark()), encoding="utf-8")
    print(results.read_text())
    fresh_clone.main()


if __name__ == "__main__":
    main()
