"""Shared fixtures: every test gets its own empty model cache."""

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEDL_CACHE", str(tmp_path / "sedl-cache"))
