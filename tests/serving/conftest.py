"""Small models saved once per session (copied into each test's registry)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving import faulty
from tests.serving.helpers import save_faulty, save_hgb, save_logreg


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("serving-models")
    return {
        "hgb": save_hgb(root / "hgb"),
        "logreg": save_logreg(root / "logreg"),
        "logreg_b": save_logreg(root / "logreg_b", seed=3, c=0.01),
        "faulty": save_faulty(root / "faulty"),
    }


@pytest.fixture(autouse=True)
def _healthy_faulty_model() -> Iterator[None]:
    faulty.reset()
    yield
    faulty.reset()
