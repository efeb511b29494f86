"""Online features over real HTTP: a deployment names a feature service; requests carry entity
ids (and the request-time inputs); the server fetches the rest from the online store (SQLite,
Redis)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelyard.config import Settings
from modelyard.features import Entity, FeatureService, FeatureStore, FeatureView
from modelyard.flavors import save_model
from modelyard.registry import RegistryClient
from modelyard.storage import Workspace
from tests.serving.helpers import predict, register, running

FEATURES = {"spend_7d": "float64", "txn_count": "float64"}
CUSTOMERS = {"c1": (120.0, 3.0), "c2": (5.0, 40.0)}


def _store(ws: Workspace) -> None:
    FeatureStore(ws).apply(
        [
            Entity(name="customer", join_keys=["customer_id"]),
            FeatureView(name="spend", entities=["customer"], features=FEATURES, ttl="1000d"),
            FeatureService(name="fraud_svc", features=["spend"]),
        ]
    )
    now = int(time.time() * 1000)
    ws.online.write(
        "spend",
        [(k, now, {"spend_7d": s, "txn_count": n}) for k, (s, n) in CUSTOMERS.items()],
    )


def _model(path: Path, metadata: dict[str, Any] | None = None) -> Path:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "amount": rng.gamma(2, 30, 400),
            "spend_7d": rng.gamma(2, 40, 400),
            "txn_count": rng.integers(0, 50, 400).astype(float),
        }
    )
    y = (X.amount / (X.spend_7d + 1) + rng.normal(scale=0.2, size=400) > 0.8).astype(int)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    save_model(model, path, sample=X.head(20), metadata=metadata)
    return path


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_features_fetched_by_entity_id(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    overrides = {}
    if backend == "redis":
        url, namespace = request.getfixturevalue("redis_namespace")
        overrides["online_uri"] = f"{url}?namespace={namespace}"
    ws = Workspace(Settings.resolve(home=str(tmp_path / "home"), **overrides))
    _store(ws)
    register(ws, _model(tmp_path / "m"), "fraud", "production")
    spec = {
        "deployments": {
            "fraud": {"model": "models:/fraud@production", "feature_service": "fraud_svc"}
        }
    }
    local = RegistryClient(ws).load_model("models:/fraud@production")
    with running(spec, ws) as srv:
        rows = [{"customer_id": "c1", "amount": 50.0}, {"customer_id": "c2", "amount": 50.0}]
        got = predict(srv.base, "fraud", rows)
        assert got.status_code == 200, got.text
        full = [{"amount": 50.0, "spend_7d": s, "txn_count": n} for s, n in CUSTOMERS.values()]
        np.testing.assert_allclose(got.json()["probabilities"], local.predict_proba(full))

        no_key = predict(srv.base, "fraud", [{"amount": 50.0}])
        assert no_key.status_code == 422 and no_key.json()["field"] == "customer_id"
        sent_feature = predict(srv.base, "fraud", [{**rows[0], "spend_7d": 1.0}])
        assert sent_feature.status_code == 422
        assert "fetched from the online store" in sent_feature.json()["message"]
        no_amount = predict(srv.base, "fraud", [{"customer_id": "c1"}])
        assert no_amount.status_code == 422 and no_amount.json()["field"] == "amount"
    ws.close()
    table = ws.logs.read("predictions", partition={"model": "fraud"})
    assert table is not None
    logged = [r for r in table.to_pylist() if r["status"] == "ok"]
    assert [r["input.spend_7d"] for r in logged] == [120.0, 5.0]  # what the model saw


def test_a_model_trained_on_a_feature_service_says_so(tmp_path: Path) -> None:
    ws = Workspace(Settings.resolve(home=str(tmp_path / "home")))
    _store(ws)
    declared = {"features": {"service": "fraud_svc", "join_keys": ["customer_id"]}}
    register(ws, _model(tmp_path / "m", metadata=declared), "fraud", "production")
    spec = {"deployments": {"fraud": {"model": "models:/fraud@production"}}}
    with running(spec, ws) as srv:
        got = predict(srv.base, "fraud", [{"customer_id": "c2", "amount": 10.0}])
        assert got.status_code == 200, got.text
    ws.close()


def test_replayed_events_read_features_as_of_their_own_time(tmp_path: Path) -> None:
    """features_as_of: a past event is scored with the features as they were then (TTL checked
    against the event's time); by the server's clock the same values are long expired."""
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline

    ws = Workspace(Settings.resolve(home=str(tmp_path / "home")))
    FeatureStore(ws).apply(
        [
            Entity(name="customer", join_keys=["customer_id"]),
            FeatureView(name="spend", entities=["customer"], features=FEATURES, ttl="1d"),
            FeatureService(name="fraud_svc", features=["spend"]),
        ]
    )
    written = int(pd.Timestamp("2026-01-10T08:00:00Z").timestamp() * 1000)
    ws.online.write("spend", [("c1", written, {"spend_7d": 120.0, "txn_count": 3.0})])
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "amount": rng.gamma(2, 30, 400),
            "event_ms": np.full(400, written, dtype=np.int64),
            "spend_7d": rng.gamma(2, 40, 400),
            "txn_count": rng.integers(0, 50, 400).astype(float),
        }
    )
    y = (X.amount / (X.spend_7d + 1) > 0.8).astype(int)
    ignore_time = make_column_transformer(("drop", ["event_ms"]), remainder="passthrough")
    model = make_pipeline(ignore_time, HistGradientBoostingClassifier(max_iter=20)).fit(X, y)
    save_model(model, tmp_path / "m", sample=X.head(20))
    register(ws, tmp_path / "m", "fraud", "production")
    deployment = {"model": "models:/fraud@production", "feature_service": "fraud_svc"}
    spec = {
        "deployments": {
            "replay": {**deployment, "features_as_of": "event_ms"},
            "live": deployment,
        }
    }
    event = {"customer_id": "c1", "amount": 50.0, "event_ms": written + 3_600_000}
    with running(spec, ws) as srv:
        replay = predict(srv.base, "replay", [event])
        live = predict(srv.base, "live", [event])
        assert replay.status_code == 200 and live.status_code == 200, replay.text + live.text
        too_late = predict(srv.base, "replay", [{**event, "event_ms": written + 2 * 86_400_000}])
        assert too_late.status_code == 200
    ws.close()
    table = ws.logs.read("predictions", partition={"model": "fraud"})
    assert table is not None
    logged = [r for r in table.to_pylist() if r["status"] == "ok"]
    by_time = [(r["input.event_ms"], r["input.spend_7d"]) for r in logged]
    # as of the event: present; by the clock (months later) and two days on: expired (null)
    assert by_time.count((written + 3_600_000, 120.0)) == 1
    assert by_time.count((written + 3_600_000, None)) == 1
    assert (written + 2 * 86_400_000, None) in by_time
