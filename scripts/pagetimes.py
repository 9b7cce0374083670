"""Build tooling: the book's executable pages and their wall times in Jupyter Book's execution cache.

This is not part of the runtime package ``sedl``: it needs the book's repository (its
``_toc.yml``) and the build tools (``pyyaml``, ``jupytext``, ``jupyter-cache``), which the
book's environment installs and a reader's does not. The Green AI page
(``book/ethics/green-ai.md``) imports it when it runs inside a book build, and
``scripts/reproduce.py`` uses it for the list of pages.

    python scripts/pagetimes.py          # the page-time table of the last book build
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "_ext")]
from book_toc import pages as toc_pages  # noqa: E402  (the one reading of _toc.yml)
from twins import is_executable  # noqa: E402  (the one definition of an executable page)


def find_book_root(start: str | Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: the working directory) with ``_toc.yml``."""
    if start is not None and not isinstance(start, (str, Path)):
        raise TypeError(f"start: expected a path, got {type(start).__name__}")
    here = Path.cwd() if start is None else Path(start)
    for folder in (here.resolve(), *here.resolve().parents):
        if (folder / "_toc.yml").is_file() and (folder / "_config.yml").is_file():
            return folder
    return None


def execution_cache(root: str | Path | None) -> Path | None:
    """Jupyter Book's execution cache of the book at ``root``, or None when there is none.

    ``$SEDL_EXECUTION_CACHE`` overrides the default ``<root>/_build/.jupyter_cache``
    (for a build with ``--path-output``).
    """
    if root is not None and not isinstance(root, (str, Path)):
        raise TypeError(f"root: expected a path or None, got {type(root).__name__}")
    override = os.environ.get("SEDL_EXECUTION_CACHE")
    if override:
        folder = Path(override)
    elif root is None:
        return None
    else:
        folder = Path(root) / "_build" / ".jupyter_cache"
    return folder if (folder / "global.db").is_file() else None


def executable_pages(root: str | Path = ROOT) -> list[Path]:
    """The pages in the book's table of contents that declare a kernel, in TOC order."""

    if not isinstance(root, (str, Path)):
        raise TypeError(f"root: expected a path, got {type(root).__name__}")
    root = Path(root)
    if not (root / "_toc.yml").is_file():
        raise FileNotFoundError(f"root: expected a book folder with a _toc.yml, got {root}")
    pages = []
    for name in toc_pages(root):
        path = root / f"{name}.md"
        if path.is_file() and is_executable(path):
            pages.append(path)
    return pages


def page_times(root: str | Path, cache: str | Path) -> pd.DataFrame:
    """Wall time of the last execution of each executable page, from Jupyter Book's cache.

    Returns one row per executable page in TOC order: ``page``, ``seconds``, ``executed``
    (when) and ``status``: ``"current"`` (the cached run is of the page's present code),
    ``"older code"`` (only a run of an earlier version is cached) or ``"not cached"``
    (never executed in this cache, or executed outside it, e.g. with ``execution_mode: force``).
    """
    import jupytext
    from jupyter_cache import get_cache

    for value, name in ((root, "root"), (cache, "cache")):
        if not isinstance(value, (str, Path)):
            raise TypeError(f"{name}: expected a path, got {type(value).__name__}")
    root, cache = Path(root).resolve(), Path(cache)
    if not (cache / "global.db").is_file():
        raise FileNotFoundError(f"cache: expected a Jupyter Book execution cache, got {cache}")
    store = get_cache(cache)
    records = sorted(store.list_cache_records(), key=lambda r: r.created)
    latest = {Path(r.uri).resolve(): r for r in records}  # the newest record of each page wins
    rows = []
    for page in executable_pages(root):
        try:
            record, status = store.match_cache_notebook(jupytext.read(page)), "current"
        except KeyError:
            record = latest.get(page.resolve())
            status = "not cached" if record is None else "older code"
        seconds = (record.data or {}).get("execution_seconds") if record is not None else None
        rows.append({"page": page.relative_to(root).with_suffix("").as_posix(),
                     "seconds": float("nan") if seconds is None else float(seconds),
                     "executed": None if record is None else pd.Timestamp(record.created),
                     "status": status})
    return pd.DataFrame(rows, columns=["page", "seconds", "executed", "status"])


if __name__ == "__main__":
    found = execution_cache(ROOT)
    if found is None:
        sys.exit("no execution cache: build the book first (make book)")
    print(page_times(ROOT, found).to_string(index=False))
