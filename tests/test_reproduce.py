"""The reproducibility check (scripts/reproduce.py) can fail: an unseeded draw and a stale cached
model each make it report a difference, and it passes where both executions agree."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from sedl import book
from sedl import cache as model_cache

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("reproduce", ROOT / "scripts" / "reproduce.py")
reproduce = sys.modules["reproduce"] = importlib.util.module_from_spec(_spec)  # dataclasses need it
_spec.loader.exec_module(reproduce)

HEADER = "---\nkernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n"


def page(tmp_path: Path, code: str) -> Path:
    md = tmp_path / "page.md"
    md.write_text(HEADER + "```{code-cell} ipython3\n" + code.strip() + "\n```\n")
    return md


def glue_of(md: Path, cache: Path) -> dict[str, str]:
    values, _ = reproduce.split_tolerances(reproduce.notebook_glue(
        reproduce.execute(md, reproduce.second_env(cache))))
    return values


def test_an_unseeded_draw_fails_the_check_and_a_seeded_one_passes(tmp_path):
    md = page(tmp_path, """
import torch
from sedl import repro
from sedl.book import glue
glue("unseeded", float(torch.rand(1)), display=False)
repro.set_seed(0)
glue("seeded", float(torch.rand(1)), display=False)
""")
    first, second = glue_of(md, tmp_path / "a"), glue_of(md, tmp_path / "b")
    diffs, counts = reproduce.compare_values("p", first, second, {})
    assert [d.name for d in diffs] == ["unseeded"]
    assert counts == {"values": 2, "exact": 1, "within tolerance": 0, "not compared": 0}


TRAINS = """
import torch
from sedl import models
from sedl.book import glue

def train():
    torch.manual_seed(0)
    return torch.nn.Linear(3, 1), {}

model, _ = models.cached("tiny", {"in": 3}, train, lambda: torch.nn.Linear(3, 1))
glue("weight_sum", float(model.weight.sum()), display=False)
"""


def _poison(cache: Path) -> None:
    """Replace the cached weights by others the code would not produce, with a valid digest."""
    (path,) = cache.glob("tiny-*.pt")
    payload = torch.load(path, weights_only=True)
    payload["state_dict"] = {k: v + 1.0 for k, v in payload["state_dict"].items()}
    payload["digest"] = model_cache._weights_digest(payload["state_dict"])
    torch.save(payload, path)


def test_a_stale_cached_model_fails_the_check(tmp_path):
    md = page(tmp_path, TRAINS)
    fresh = glue_of(md, tmp_path / "build-cache")
    assert reproduce.compare_values("p", fresh, glue_of(md, tmp_path / "empty"), {})[0] == []
    _poison(tmp_path / "build-cache")
    stale = glue_of(md, tmp_path / "build-cache")  # the book build, reading the stale cache
    diffs, _ = reproduce.compare_values("p", stale, glue_of(md, tmp_path / "empty-2"), {})
    assert [d.name for d in diffs] == ["weight_sum"]


def rules(**tolerances):
    return {p: {"tolerance": t, "reason": "test"} for p, t in tolerances.items()}


@pytest.mark.parametrize("a, b, tolerance, n_diffs", [
    ("0.91", "0.91", None, 0), ("0.91", "0.92", None, 1),
    ("0.91", "0.92", 0.02, 0), ("0.91", "0.95", 0.02, 1), ("'a'", "'b'", 0.02, 1),
])
def test_values_agree_exactly_unless_a_tolerance_is_declared(a, b, tolerance, n_diffs):
    declared = rules(**{"acc*": tolerance}) if tolerance is not None else {}
    diffs, _ = reproduce.compare_values("p", {"acc": a}, {"acc": b}, declared)
    assert len(diffs) == n_diffs


def test_timings_are_reported_never_compared():
    diffs, counts = reproduce.compare_values("p", {"fit_s": "1.0"}, {"fit_s": "9.0"},
                                             rules(**{"*_s": book.TIMING}))
    assert diffs == [] and counts["not compared"] == 1


def test_a_value_glued_in_one_execution_only_is_a_difference():
    diffs, _ = reproduce.compare_values("p", {"a": "1", "b": "2"}, {"a": "1", "c": "2"}, {})
    assert sorted(d.name for d in diffs) == ["b", "c"]


def _table(*cells):
    return {"cells": [{"outputs": [{"data": {"text/html": "<table><tr>" + "".join(
        f"<td>{c}</td>" for c in cells) + "</tr></table>"}}]}]}


def test_tables_compare_cell_by_cell_with_the_declared_tolerance():
    book_tables = reproduce.tables(_table("FGSM", "49.4%"))
    assert book_tables == [["FGSM", "49.4%"]]
    moved = reproduce.tables(_table("FGSM", "48.0%"))
    assert len(reproduce.compare_tables("p", book_tables, moved, {})) == 1
    assert reproduce.compare_tables("p", book_tables, moved, rules(**{"table-1": 2.0})) == []
    renamed = reproduce.tables(_table("PGD", "49.4%"))
    assert len(reproduce.compare_tables("p", book_tables, renamed, rules(**{"table-1": 2.0}))) == 1


def test_declared_tolerances_are_read_back_from_the_glue():
    text = repr(json.dumps({"tolerance": 0.5, "reason": "seed spread"}))
    values, declared = reproduce.split_tolerances({"acc": "0.9", book.TOLERANCE_PREFIX + "acc*": text})
    assert values == {"acc": "0.9"} and declared == {"acc*": {"tolerance": 0.5, "reason": "seed spread"}}


def test_a_page_that_fails_the_second_time_is_a_difference_and_the_run_goes_on(monkeypatch, tmp_path):
    def times_out(md, env):
        raise RuntimeError("A cell timed out while it was being executed, after 600 seconds.")

    monkeypatch.setattr(reproduce, "book_build_notebook", lambda md: {"cells": []})
    monkeypatch.setattr(reproduce, "execute", times_out)
    result = reproduce.check_page(ROOT / "book" / "models.md", tmp_path)
    (failure,) = result["differences"]
    assert failure["name"] == "execution" and "timed out" in failure["second"]
    assert result["counts"]["values"] == 0
