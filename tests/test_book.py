"""sedl.book: glue works with and without myst-nb; tolerances are declared with clear errors."""

import json

import pytest

from sedl import book


def test_without_myst_nb_glue_records_nothing_and_shows_only_when_asked(monkeypatch, capsys):
    monkeypatch.setattr(book, "_myst_glue", lambda: None)
    book.glue("hidden", 0.25, display=False)
    assert capsys.readouterr().out == ""
    book.glue("shown", 0.25)
    assert capsys.readouterr().out.strip() == "0.25"


def test_with_myst_nb_glue_is_myst_nbs(monkeypatch):
    calls = []
    monkeypatch.setattr(book, "_myst_glue", lambda: lambda *a, **k: calls.append((a, k)))
    book.glue("acc", 0.9, display=False)
    assert calls == [(("acc", 0.9), {"display": False})]


def test_tolerate_glues_its_rule_under_the_prefix(monkeypatch):
    calls = []
    monkeypatch.setattr(book, "_myst_glue", lambda: lambda *a, **k: calls.append(a))
    book.tolerate("acc_*", 0.02, reason="seed spread")
    book.tolerate("fit_s", book.TIMING, reason="wall clock")
    assert calls[0][0] == book.TOLERANCE_PREFIX + "acc_*"
    assert json.loads(calls[0][1]) == {"tolerance": 0.02, "reason": "seed spread"}
    assert json.loads(calls[1][1])["tolerance"] == "timing"


@pytest.mark.parametrize("kwargs, error, match", [
    ({"name": ""}, ValueError, "name: expected a non-empty string"),
    ({"name": 3}, ValueError, "name: expected a non-empty string"),
    ({"display": "no"}, TypeError, "display: expected a bool, got str"),
])
def test_glue_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        book.glue(**({"name": "x", "value": 1} | kwargs))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"pattern": ""}, ValueError, "pattern: expected a non-empty glob"),
    ({"tolerance": -1.0}, ValueError, "tolerance: expected a number >= 0.0"),
    ({"tolerance": float("nan")}, ValueError, "tolerance: expected a number, got nan"),
    ({"tolerance": float("inf")}, ValueError, "tolerance: expected a finite number"),
    ({"tolerance": "loose"}, TypeError, "tolerance: expected a number"),
    ({"reason": " "}, ValueError, "reason: expected a sentence"),
])
def test_tolerate_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        book.tolerate(**({"pattern": "x", "tolerance": 0.1, "reason": "why"} | kwargs))


@pytest.mark.parametrize("rules, a, b, expected", [
    ({}, "1", "1", True), ({}, "1", "2", False),
    ({"x*": {"tolerance": 1.5}}, "1", "2", True), ({"x*": {"tolerance": 0.5}}, "1", "2", False),
    ({"x*": {"tolerance": "timing"}}, "1", "9", None), ({"x*": {"tolerance": "machine"}}, "a", "b", None),
    ({"y*": {"tolerance": 5.0}}, "1", "2", False), ({"x*": {"tolerance": 5.0}}, "'a'", "'b'", False),
])
def test_within_tolerance(rules, a, b, expected):
    assert book.within_tolerance("x1", a, b, rules) is expected


def test_rate_tolerance_is_k_standard_errors():
    assert book.rate_tolerance(0.5, 100, k=1.0) == pytest.approx((0.25 + 1 / 400) ** 0.5 / 10)
    assert book.rate_tolerance(1.0, 500) > 0  # a perfect score still may move by about an item


@pytest.mark.parametrize("args, kwargs, error, match", [
    ((1.5, 10), {}, ValueError, "rate: expected a number <= 1.0"),
    ((0.5, 0), {}, ValueError, "n: expected a positive int"),
    ((0.5, 10.0), {}, ValueError, "n: expected a positive int"),
    ((0.5, 10), {"k": -1}, ValueError, "k: expected a number >= 0.0"),
])
def test_rate_tolerance_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        book.rate_tolerance(*args, **kwargs)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"holds": 1, "sentence": "s"}, TypeError, "holds: expected a bool"),
    ({"holds": True, "sentence": " "}, ValueError, "sentence: expected"),
    ({"holds": True, "sentence": None}, ValueError, "sentence: expected"),
])
def test_claim_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        book.claim(**kwargs)


@pytest.mark.parametrize("args, error, match", [
    ((3, "1", "1", {}), ValueError, "name: expected a non-empty string"),
    (("acc", 0.91, "0.93", {}), TypeError, "first: expected the glued value's text"),
    (("acc", "0.91", None, {}), TypeError, "second: expected the glued value's text"),
    (("acc", "0.91", "0.93", [("acc*", 0.1)]), TypeError, "tolerances: expected a dict"),
    (("acc", "0.91", "0.93", {"acc*": 0.1}), TypeError, "tolerances: expected a dict of rules"),
])
def test_within_tolerance_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        book.within_tolerance(*args)
