"""Shared set-up of the unit tests (each test's empty model cache: tests/isolated_cache.py)."""

import matplotlib

matplotlib.use("Agg")
