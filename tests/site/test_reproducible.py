"""The reproducibility gate: every number a page glues into its prose is re-derived.

`make pages` executes each page with nbval and records its glued values
(tests/glue_record.py); `make book` executes each page again for the site. Both runs
start from the page's source, so their glued values must be identical. Values whose
name marks them as timing-dependent (ending in `_seconds`, `_s`, `_ms` or `_ratio_time`) are
wall-clock measurements: they must be positive and agree within a factor of TIMING_FACTOR, since
these machines are shared and noisy.
"""

import importlib.util
import json
import math

import pytest
from conftest import ROOT

RECORD = ROOT / "_build" / "glue" / "nbval.json"
EXECUTED = ROOT / "_build" / "jupyter_execute"
TIMING_SUFFIXES = ("_seconds", "_s", "_ms", "_ratio_time")
TIMING_FACTOR = 4.0

# The same extraction the nbval run used, so both executions are read alike.
_spec = importlib.util.spec_from_file_location("glue_record", ROOT / "tests" / "glue_record.py")
glue_record = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(glue_record)


def _book_glue(page: str) -> dict[str, str]:
    """The glued values of the book build: myst-nb moves them out of the executed
    notebook into `<page>.glue.json`; any left in the cells' outputs count too."""
    values = {}
    for cell in json.loads((EXECUTED / f"{page}.ipynb").read_text())["cells"]:
        values.update(glue_record.glued_values(cell.get("outputs")))
    store = EXECUTED / f"{page}.glue.json"
    if store.exists():
        values.update(glue_record.glued_values(json.loads(store.read_text()).values()))
    return values


def _agree(name: str, a: str, b: str) -> bool:
    if a == b:
        return True
    if not name.endswith(TIMING_SUFFIXES):
        return False
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return x > 0 and y > 0 and math.isfinite(x) and max(x, y) / min(x, y) <= TIMING_FACTOR


def _recorded() -> dict[str, dict[str, str]]:
    if not RECORD.exists():
        pytest.fail(f"{RECORD} is missing: run `make pages` (nbval) before the gate")
    return json.loads(RECORD.read_text())


def test_every_glued_page_was_recorded():
    pages = {p.relative_to(ROOT).with_suffix("").as_posix()
             for p in (ROOT / "book").rglob("*.md") if "{glue:" in p.read_text()}
    assert pages <= set(_recorded()), f"pages whose glue nbval did not record: {pages - set(_recorded())}"


def test_glued_values_are_identical_in_two_executions():
    mismatches = []
    for page, values in sorted(_recorded().items()):
        book = _book_glue(page)
        for name, value in sorted(values.items()):
            if name not in book:
                mismatches.append(f"{page}: {name} glued under nbval but not in the book build")
            elif not _agree(name, value, book[name]):
                mismatches.append(f"{page}: {name}: nbval gave {value!r}, the book build {book[name]!r}")
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.parametrize("name, a, b, ok", [
    ("acc", "0.98", "0.98", True), ("acc", "0.98", "0.981", False),
    ("fit_seconds", "10.0", "30.0", True), ("fit_seconds", "1.0", "5.0", False),
    ("fit_seconds", "0", "0", True), ("fit_seconds", "-1", "2", False),
])
def test_agreement_rule(name, a, b, ok):
    assert _agree(name, a, b) is ok


def test_no_glued_value_is_a_numpy_repr():
    """A NumPy scalar glues as ``np.float64(0.5)``: a format spec then fails in the build, and a
    value shown as is reads as code. Pages glue ``float(...)`` / ``int(...)`` instead."""
    shown = [f"{page}: {name} = {value}" for page, values in sorted(_recorded().items())
             for name, value in sorted(values.items()) if value.startswith(("np.", "array("))]
    assert not shown, "\n".join(shown)
