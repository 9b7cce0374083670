"""scripts/pagetimes.py: the book's executable pages and their times in Jupyter Book's execution cache."""

import importlib.util
import sys
from pathlib import Path

import jupytext
import nbformat
import pandas as pd
import pytest
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("pagetimes", ROOT / "scripts" / "pagetimes.py")
pagetimes = sys.modules["pagetimes"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pagetimes)


def _book(root, pages):
    (root / "book").mkdir(parents=True)
    (root / "_config.yml").write_text("title: t\n")
    toc = "format: jb-book\nroot: book/intro\nchapters:\n" + "".join(
        f"  - file: book/{name}\n" for name in pages)
    (root / "_toc.yml").write_text(toc)
    (root / "book" / "intro.md").write_text("(sec_intro)=\n# Intro\n")
    for name, code in pages.items():
        text = ("---\njupytext:\n  text_representation:\n    extension: .md\n"
                "    format_name: myst\nkernelspec:\n  display_name: Python 3\n"
                f"  language: python\n  name: python3\n---\n\n# {name}\n\n"
                f"```{{code-cell}} ipython3\n{code}\n```\n")
        (root / "book" / f"{name}.md").write_text(text)


def _cache_run(cache, page, seconds):
    nb = jupytext.read(page)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], 1
    get_cache(cache).cache_notebook_bundle(
        CacheBundleIn(nbformat.from_dict(nb), str(page), data={"execution_seconds": seconds}),
        check_validity=False, overwrite=True)


def test_page_times_read_jupyter_books_cache(tmp_path):
    root = tmp_path / "site"
    _book(root, {"p": "1 + 1", "q": "2 + 2"})
    cache = root / "_build" / ".jupyter_cache"
    assert pagetimes.execution_cache(root) is None
    _cache_run(cache, root / "book" / "p.md", 12.5)
    assert pagetimes.execution_cache(root) == cache
    assert pagetimes.find_book_root(root / "book") == root.resolve()

    table = pagetimes.page_times(root, cache).set_index("page")
    assert list(table.index) == ["book/p", "book/q"]  # intro.md declares no kernel
    assert table.loc["book/p", "seconds"] == 12.5 and table.loc["book/p", "status"] == "current"
    assert pd.isna(table.loc["book/q", "seconds"]) and table.loc["book/q", "status"] == "not cached"

    page = root / "book" / "p.md"
    page.write_text(page.read_text().replace("1 + 1", "1 + 2"))
    assert pagetimes.page_times(root, cache).set_index("page").loc["book/p", "status"] == "older code"


def test_execution_cache_override_and_missing_cache(tmp_path, monkeypatch):
    assert pagetimes.execution_cache(None) is None
    assert pagetimes.find_book_root(tmp_path) is None
    with pytest.raises(FileNotFoundError, match="cache: expected a Jupyter Book execution cache"):
        pagetimes.page_times(tmp_path, tmp_path / "nothing")
    other = tmp_path / "elsewhere"
    get_cache(other).list_cache_records()  # creates an empty cache database
    monkeypatch.setenv("SEDL_EXECUTION_CACHE", str(other))
    assert pagetimes.execution_cache(None) == other


def test_the_books_own_pages_are_listed_in_toc_order():
    pages = [p.relative_to(ROOT).as_posix() for p in pagetimes.executable_pages(ROOT)]
    assert "book/ethics/green-ai.md" in pages and "book/ethics/index.md" not in pages
    assert pages.index("book/ethics/compas.md") < pages.index("book/ethics/green-ai.md")


@pytest.mark.parametrize("function, args, error, match", [
    ("find_book_root", (3,), TypeError, "start: expected a path"),
    ("execution_cache", (3,), TypeError, "root: expected a path or None"),
    ("executable_pages", (3,), TypeError, "root: expected a path"),
    ("page_times", (3, "x"), TypeError, "root: expected a path"),
    ("page_times", (".", 3), TypeError, "cache: expected a path"),
])
def test_pagetimes_bad_input(function, args, error, match):
    with pytest.raises(error, match=match):
        getattr(pagetimes, function)(*args)


def test_executable_pages_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="root: expected a book folder with a _toc.yml"):
        pagetimes.executable_pages(tmp_path)
