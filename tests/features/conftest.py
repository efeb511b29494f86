"""Fixtures for the feature store tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.features import FeatureStore
from tests.features.feature_helpers import make_workspace


@pytest.fixture
def fs(tmp_path: Path) -> Iterator[FeatureStore]:
    """A feature store on a fresh workspace (SQLite metadata and online store, local DuckDB)."""
    ws = make_workspace(tmp_path)
    yield FeatureStore(ws, refresh_s=0.0)
    ws.close()
