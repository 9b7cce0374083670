"""A pytest plugin, always on (pyproject.toml's addopts): every test and every doctest of the
package gets its own empty model cache, so that none reads or writes ~/.cache/sedl.

A plugin rather than a conftest fixture because the doctests live in src/, outside tests/."""

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEDL_CACHE", str(tmp_path / "sedl-cache"))
