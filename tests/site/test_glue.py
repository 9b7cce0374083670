"""The values the book build glued into the prose: every page that quotes one glued it, and
none is shown as code. (Whether a value is reproducible is `make reproduce`'s question.)"""

import functools
import importlib.util
import sys

import pytest
from conftest import ROOT

_spec = importlib.util.spec_from_file_location("reproduce", ROOT / "scripts" / "reproduce.py")
reproduce = sys.modules["reproduce"] = importlib.util.module_from_spec(_spec)  # dataclasses need it
_spec.loader.exec_module(reproduce)

GLUING_PAGES = sorted(p.relative_to(ROOT).with_suffix("").as_posix()
                      for p in (ROOT / "book").rglob("*.md") if "{glue:" in p.read_text())


@functools.cache
def _built_glue(page: str) -> dict[str, str]:
    try:
        return reproduce.notebook_glue(reproduce.book_build_notebook(ROOT / f"{page}.md"))
    except FileNotFoundError as missing:
        pytest.fail(str(missing))


def test_pages_that_quote_glued_values_exist():
    assert len(GLUING_PAGES) >= 20


@pytest.mark.parametrize("page", GLUING_PAGES)
def test_every_quoted_value_was_glued(page):
    quoted = set(reproduce.re.findall(r"\{glue:(?:text|md)?\}`([^`:]+)", (ROOT / f"{page}.md").read_text()))
    missing = quoted - set(_built_glue(page))
    assert not missing, f"{page} quotes values it never glued: {sorted(missing)}"


@pytest.mark.parametrize("page", GLUING_PAGES)
def test_no_glued_value_is_a_numpy_repr(page):
    """A NumPy scalar glues as ``np.float64(0.5)``: a format spec then fails in the build, and a
    value shown as is reads as code. Pages glue ``float(...)`` / ``int(...)`` instead."""
    shown = [f"{name} = {value}" for name, value in sorted(_built_glue(page).items())
             if value.startswith(("np.", "array("))]
    assert not shown, "\n".join(shown)
