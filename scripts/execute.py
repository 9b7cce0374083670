"""Execute the book's pages into Jupyter Book's execution cache, two kernels at a time.

Jupyter Book executes the pages one after the other as Sphinx reads them, and each kernel
leaves most of a 2-core machine idle (the models train on one thread, see
``sedl.repro.num_threads``). `make book` runs this script first: it executes every page
whose present code has no run in the cache, two at a time with one thread each, and stores
each run exactly as myst-nb would (matched on the page's code cells), so that the build
that follows takes every page from the cache and executes none a second time.

Pages with ``execution_mode: force`` in their front matter (the green-ai page, which reads
the other pages' execution times) are left to the build, which runs them after the others.

    python scripts/execute.py            # every executable page in the table of contents
    python scripts/execute.py PAGE.md    # only these
    python scripts/execute.py --cache DIR [PAGE.md ...]   # another execution cache (make bench)

Exit status 1, naming the pages and their errors, when a page fails; the book build would
fail on it too.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "_build" / ".jupyter_cache"
KERNELS = 2
#: One thread per kernel, so that two kernels share two cores without contention.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def execute(md: Path, env: dict[str, str]):
    """Execute a MyST page in a fresh kernel, in its own folder, as the book build does.

    Returns the executed notebook (nbformat) and the wall time in seconds."""
    import jupytext
    from nbclient import NotebookClient

    nb = jupytext.read(md)
    # No timing metadata in the cells: the cache matches a page on its cells' metadata too.
    client = NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(md.parent)}})
    start = time.perf_counter()
    client.execute(env=env)  # passed on to the kernel's process
    return nb, time.perf_counter() - start


def is_forced(md: Path) -> bool:
    """Whether the page asks to be executed on every build, outside the cache."""
    front = md.read_text(encoding="utf-8").split("\n---", 1)[0]
    return "execution_mode: force" in front


def stale(pages: list[Path], cache_dir: Path = CACHE) -> list[Path]:
    """The pages whose present code has no run in the execution cache."""
    import jupytext
    from jupyter_cache import get_cache

    cache = get_cache(cache_dir)
    todo = []
    for md in pages:
        try:
            cache.match_cache_notebook(jupytext.read(md))
        except KeyError:
            todo.append(md)
    return todo


def store(md: Path, nb, seconds: float, cache_dir: Path = CACHE) -> None:
    """Add an executed page to the cache as myst-nb does after executing it."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    bundle = CacheBundleIn(nb, str(md), data={"execution_seconds": seconds})
    get_cache(cache_dir).cache_notebook_bundle(bundle, check_validity=False, overwrite=True)


def run(md: Path):
    """Execute one page: (page, notebook, seconds, error), error None on success."""
    try:
        nb, seconds = execute(md, os.environ | ONE_THREAD)
    except Exception as error:  # a failing cell: report it with the others, then stop
        return md, None, None, f"{type(error).__name__}: {str(error)[-2000:]}"
    return md, nb, seconds, None


def toc_pages() -> list[Path]:
    """The executable pages of the table of contents, in its order."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from pagetimes import executable_pages

    return executable_pages(ROOT)


def main(argv: list[str]) -> int:
    cache_dir = CACHE
    if argv[:1] == ["--cache"]:
        if len(argv) < 2:
            print("execute: --cache needs a folder", file=sys.stderr)
            return 2
        cache_dir, argv = Path(argv[1]).resolve(), argv[2:]
    pages = [Path(p).resolve() for p in argv] or toc_pages()
    todo = stale([p for p in pages if not is_forced(p)], cache_dir)
    print(f"execute: {len(todo)} of {len(pages)} pages have no run of their present code in the cache")
    start, failures, times = time.perf_counter(), [], {}
    with ThreadPoolExecutor(max_workers=KERNELS) as pool:
        for md, nb, seconds, error in pool.map(run, todo):
            name = md.relative_to(ROOT).as_posix()
            if error:
                failures.append(f"{name}: {error}")
                print(f"execute: {name} FAILED", flush=True)
            else:
                store(md, nb, seconds, cache_dir)  # from this thread only: one writer of the cache's database
                times[name] = round(seconds, 1)
                print(f"execute: {name} in {seconds:.1f} s", flush=True)
    print(f"execute: {len(times)} pages in {time.perf_counter() - start:.0f} s wall, "
          f"{sum(times.values()):.0f} s of kernel time, {KERNELS} kernels with one thread each")
    if times:
        (cache_dir.parent / "execute-times.json").write_text(json.dumps(times, indent=1))
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
