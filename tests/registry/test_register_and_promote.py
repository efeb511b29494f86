"""Registering a version straight into a stage: one transaction, hooks after it commits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelyard.errors import InvalidArgumentError, NotFoundError
from modelyard.registry import PromotionEvent, RegistryClient
from modelyard.storage import Workspace
from modelyard.tracking import TrackingClient


def _logged(ws: Workspace) -> str:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=100)})
    y = (X.a > 0).astype(int)
    with TrackingClient(ws).start_run("reg") as run:
        return run.log_model(LogisticRegression().fit(X, y), "model", sample=X.head()).uri


def test_register_with_promote_to_archives_the_holder_and_fires_hooks(workspace: Workspace) -> None:
    registry = RegistryClient(workspace)
    events: list[PromotionEvent] = []
    registry.add_hook(events.append)
    v1 = registry.register_model(_logged(workspace), "m", promote_to="production", reason="first")
    assert v1.stage == "production"
    v2 = registry.register_model(_logged(workspace), "m", promote_to="production", reason="better")
    assert v2.stage == "production"
    assert registry.get_version("m", 1).stage == "archived"
    history = [(t.version, t.from_stage, t.to_stage) for t in registry.history("m")]
    assert history == [
        (1, None, "production"),
        (1, "production", "archived"),
        (2, None, "production"),
    ]
    assert [(e.version, e.to_stage, e.archived_versions) for e in events] == [
        (1, "production", []),
        (2, "production", [1]),
    ]
    assert registry.resolve("models:/m@production").version == 2


def test_a_bad_stage_registers_nothing(workspace: Workspace) -> None:
    registry = RegistryClient(workspace)
    with pytest.raises(InvalidArgumentError, match="stage"):
        registry.register_model(_logged(workspace), "m", promote_to="prod")
    with pytest.raises(NotFoundError):
        registry.get_model("m")


def test_without_promote_to_nothing_moves(workspace: Workspace) -> None:
    registry = RegistryClient(workspace)
    events: list[Any] = []
    registry.add_hook(events.append)
    v = registry.register_model(_logged(workspace), "m")
    assert v.stage is None and events == [] and registry.history("m") == []
