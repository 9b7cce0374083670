"""scripts/execute.py: pages executed ahead of the build are the runs the build takes from the cache."""

import importlib.util
import sys
from pathlib import Path

import pytest
from jupyter_cache import get_cache
from myst_nb.core.read import read_myst_markdown_notebook

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("execute", ROOT / "scripts" / "execute.py")
execute = sys.modules["execute"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(execute)

PAGE = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A page

```{code-cell} ipython3
:tags: [remove-cell]
import os
```

```{code-cell} ipython3
print(os.environ["OMP_NUM_THREADS"], 6 * 7)
```
"""


@pytest.fixture
def page(tmp_path):
    md = tmp_path / "page.md"
    md.write_text(PAGE)
    return md


def test_a_page_run_ahead_is_the_run_myst_nb_finds(page, tmp_path):
    cache = tmp_path / "cache"
    assert execute.stale([page], cache) == [page]
    md, nb, seconds, error = execute.run(page)
    assert error is None and seconds > 0
    execute.store(md, nb, seconds, cache)
    assert execute.stale([page], cache) == []
    # what the book build does: read the page with myst-nb's own reader, then match it
    as_the_build_reads_it = read_myst_markdown_notebook(page.read_text())
    record = get_cache(cache).match_cache_notebook(as_the_build_reads_it)
    outputs = get_cache(cache).get_cache_bundle(record.pk).nb.cells[1].outputs
    assert outputs[0]["text"] == "1 42\n"  # executed, with one thread per kernel


def test_an_edited_page_is_stale_again(page, tmp_path):
    cache = tmp_path / "cache"
    md, nb, seconds, _ = execute.run(page)
    execute.store(md, nb, seconds, cache)
    page.write_text(PAGE.replace("6 * 7", "6 * 8"))
    assert execute.stale([page], cache) == [page]


def test_a_failing_page_is_reported_with_its_error(tmp_path):
    md = tmp_path / "broken.md"
    md.write_text(PAGE.replace("import os", "raise ValueError('the data is missing')"))
    _, nb, _, error = execute.run(md)
    assert nb is None and "ValueError" in error and "the data is missing" in error


def test_forced_pages_are_left_to_the_build(page):
    assert not execute.is_forced(page)
    page.write_text(PAGE.replace("kernelspec:", "mystnb:\n  execution_mode: force\nkernelspec:"))
    assert execute.is_forced(page)
