"""Continuous training end to end, with a real pipeline: production traffic drifts, the
champion decays, the monitor alerts, the pipeline retrains on fresh data, and the challenger is
promoted only if it beats the champion on the same labelled predictions."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from modelyard.datasets import make_transactions, write_transactions
from modelyard.entities import LineageNode
from modelyard.monitoring import apply_monitors, record_feedback, retrain, run_monitor
from modelyard.pipeline import run as run_pipeline
from modelyard.registry import RegistryClient
from modelyard.storage import Workspace
from modelyard.tracking import TrackingClient
from tests.monitoring.helpers import log_predictions

MODEL = "fraud-detector"
PIPELINE: dict[str, Any] = {
    "name": "fraud",
    "data": {
        "source": "data/train.parquet",
        "target": "is_fraud",
        "timestamp": "event_ts",
        "drop": ["transaction_id", "customer_id", "merchant_id"],
    },
    "split": {"method": "stratified", "test_fraction": 0.25},
    "transform": {"categorical": {"encode": "onehot"}},
    "train": {
        "model": "lightgbm",
        "params": {"n_estimators": 40, "learning_rate": 0.1, "num_leaves": 15, "verbose": -1},
    },
    "evaluate": {"metrics": ["roc_auc", "accuracy"], "plots": False},
    "register": {
        "model": MODEL,
        "gate": {"metric": "roc_auc", "min": 0.55, "must_beat": "production"},
        "promote_to": "production",
    },
}
TX = {"n_customers": 300, "days": 20, "fraud_rate": 0.06}


@pytest.fixture
def champion(workspace: Workspace, tmp_path: Path) -> Path:
    """v1 in production, trained before the drift; the pipeline file the monitor retrains with."""
    write_transactions(tmp_path / "data" / "train.parquet", n_rows=3000, seed=1, **TX)
    _drifted().iloc[np.arange(4500) % 3 != 0].to_parquet(tmp_path / "data" / "fresh.parquet")
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(PIPELINE))
    result = run_pipeline(path, workspace=workspace)
    assert result.model_version is not None and result.model_version.stage == "production"
    return path


def _drifted() -> pd.DataFrame:
    """After the drift: two thirds become the fresh training data, one third the traffic."""
    return make_transactions(4500, seed=2, drift_from="2026-01-01", **TX)


def _traffic(workspace: Workspace) -> None:
    """Drifted production traffic scored by the production model, then its true labels."""
    frame = _drifted().iloc[np.arange(4500) % 3 == 0]
    n = len(frame)
    inputs = frame.drop(columns=["transaction_id", "customer_id", "merchant_id", "is_fraud"])
    registry = RegistryClient(workspace)
    version = registry.resolve(f"models:/{MODEL}@production").version
    model = registry.load_model(f"models:/{MODEL}/{version}")
    proba = model.predict_proba(inputs)[:, 1]
    ids = log_predictions(
        workspace,
        inputs,
        model.predict(inputs).astype(float),
        proba=proba,
        model=MODEL,
        version=version,
    )
    labels = [{"prediction_id": i, "label": int(v)} for i, v in zip(ids, frame["is_fraud"])]
    assert record_feedback(workspace, labels, model=MODEL).accepted == n


def _monitor(pipeline: Path, **retrain: Any) -> dict[str, Any]:
    return {
        "name": "fraud-prod",
        "model": f"models:/{MODEL}@production",
        "window": {"last": 5000},
        "checks": {"service": False, "performance": {"metrics": ["roc_auc"]}},
        "alerts": ["roc_auc < 0.95"],
        "retrain": {
            "on": ["drift"],
            "pipeline": str(pipeline),
            "data": {"source": "data/fresh.parquet"},
            "metric": "roc_auc",
            "min_improvement": 0.02,
            "cooldown": "1h",
            "evaluation": {"min_labels": 200},
            **retrain,
        },
    }


def test_drift_alert_retrains_and_promotes_the_winner(
    workspace: Workspace, champion: Path, tmp_path: Path
) -> None:
    _traffic(workspace)
    apply_monitors(workspace, _monitor(champion), base_dir=tmp_path)
    outcome = run_monitor(workspace, "fraud-prod")
    opened = {c.alert.kind: c for c in outcome.opened}
    assert set(opened) == {"drift", "performance"}
    assert "amount" in outcome.check.drift["drifted_features"]  # type: ignore[union-attr]
    record = outcome.retrain
    assert record is not None, outcome.to_dict()
    assert record.status == "promoted", record.reason
    assert (record.trigger, record.alert_id) == ("drift", opened["drift"].alert.alert_id)
    assert (record.champion_version, record.challenger_version) == (1, 2)
    assert record.challenger_value is not None and record.champion_value is not None
    assert record.challenger_value >= record.champion_value + 0.02
    assert record.n_rows == 1500
    assert "challenger v2 roc_auc" in record.reason and "same 1,500 labelled" in record.reason

    registry = RegistryClient(workspace)
    assert registry.resolve(f"models:/{MODEL}@production").version == 2
    [promotion] = [
        t for t in registry.history(MODEL) if t.to_stage == "production" and t.version == 2
    ]
    assert promotion.reason == record.reason
    run = TrackingClient(workspace).get_run(str(record.run_id))
    assert run.tags["modelyard.monitor.decision"] == "promoted"
    assert run.metrics["monitor.challenger.roc_auc"] == pytest.approx(record.challenger_value)

    down = workspace.metadata.audit.get_lineage(
        LineageNode("alert", str(opened["drift"].alert.alert_id)), "downstream"
    )
    chain = {(e.source.kind, e.target.kind, e.relation) for e in down}
    assert {
        ("alert", "retrain", "triggered"),
        ("retrain", "run", "ran"),
        ("run", "model_version", "registered"),
        ("model_version", "promotion", "promoted"),
    } <= chain
    assert LineageNode("model_version", f"{MODEL}/2") in {e.target for e in down}

    # the next check watches v2: drift tests v2's profile against the rows v2 answered, and it
    # answered none yet (v1's rows are not v2's drift): not enough data, the alert stays open
    again = run_monitor(workspace, "fraud-prod")
    assert again.check is not None and again.check.model_version == 2
    assert again.check.details["checks"]["drift"]["status"] == "not_enough_data"
    assert (
        "v2 answered none of the window's 1500" in again.check.details["checks"]["drift"]["message"]
    )
    assert again.resolved == [] and again.retrain is None
    # v2 answers the same kind of traffic (it was trained on it): the drift alert resolves; the
    # performance alert (the window still holds v1's answers) stays open, and the cooldown stops
    # a second retrain
    _traffic(workspace)
    third = run_monitor(workspace, "fraud-prod")
    assert [c.alert.kind for c in third.resolved] == ["drift"]
    assert third.check is not None and third.check.drift["n_current"] == 1500
    assert third.retrain is None
    assert len(workspace.metadata.monitoring.list_retrains("fraud-prod")) == 1


def test_a_challenger_that_does_not_win_is_not_promoted(
    workspace: Workspace, champion: Path, tmp_path: Path
) -> None:
    _traffic(workspace)
    apply_monitors(workspace, _monitor(champion, min_improvement=0.9), base_dir=tmp_path)
    record = retrain(workspace, "fraud-prod")
    assert record.status == "not_promoted"
    assert record.challenger_version == 2 and record.trigger == "manual"
    assert "(min_improvement 0.9)" in record.reason
    registry = RegistryClient(workspace)
    assert registry.resolve(f"models:/{MODEL}@production").version == 1
    assert registry.get_version(MODEL, 2).stage is None
    run = TrackingClient(workspace).get_run(str(record.run_id))
    assert run.tags["modelyard.monitor.reason"] == record.reason


def test_same_data_and_too_few_labels_are_recorded(
    workspace: Workspace, champion: Path, tmp_path: Path
) -> None:
    spec = _monitor(champion)
    spec["retrain"]["data"] = {}  # the pipeline's own data: the very same model
    apply_monitors(workspace, spec, base_dir=tmp_path)
    same = retrain(workspace, "fraud-prod")
    assert same.status == "not_promoted" and "the champion itself" in same.reason

    spec = copy.deepcopy(_monitor(champion))
    apply_monitors(workspace, spec, base_dir=tmp_path)
    few = retrain(workspace, "fraud-prod")  # no traffic, no labels
    assert few.status == "not_promoted"
    assert "only 0 labelled predictions to compare on (200 needed)" in few.reason


def test_retrain_on_labelled_production_traffic(
    workspace: Workspace, champion: Path, tmp_path: Path
) -> None:
    _traffic(workspace)
    spec = _monitor(champion)
    spec["retrain"]["data"] = {"from_log": {"min_rows": 500}}
    spec["retrain"]["evaluation"] = {"last": 500, "min_labels": 200}
    apply_monitors(workspace, spec, base_dir=tmp_path)
    record = retrain(workspace, "fraud-prod")
    assert record.status == "promoted", record.reason
    assert record.n_rows == 500 and record.challenger_version == 2
    source = str(record.details["training_data"])
    assert source.endswith(f"monitoring/fraud-prod/retrain-{record.retrain_id}/train.parquet")
    trained_on = pd.read_parquet(workspace.artifact_store_for(source).local_path(""))
    assert len(trained_on) == 1000  # 1,500 labelled minus the 500 kept for the comparison
    assert "is_fraud" in trained_on and "transaction_id" not in trained_on
    assert trained_on["is_fraud"].dtype == "int64"

    spec["retrain"]["data"] = {"from_log": {"min_rows": 5000}}
    apply_monitors(workspace, spec, base_dir=tmp_path)
    short = retrain(workspace, "fraud-prod")
    assert short.status == "failed"
    assert "only 1000 labelled predictions to train on" in short.reason


def test_fresh_data_for_a_pipeline_on_the_feature_store(tmp_path: Path) -> None:
    """A feature-store pipeline keeps its features: a fresh file becomes its labelled entity
    rows; rows from the log (which hold the fetched features) become a plain file source."""
    from modelyard.monitoring.retrain import _pipeline_spec
    from modelyard.pipeline import load_spec
    from modelyard.pipeline.spec import FeatureData, FileData

    raw = copy.deepcopy(PIPELINE)
    raw["data"] = {
        "features": "fraud_features",
        "entities": "data/old.parquet",
        "target": "is_fraud",
        "timestamp": "event_ts",
        "drop": ["transaction_id", "customer_id", "merchant_id"],
    }
    base = load_spec(raw, base_dir=tmp_path)  # no workspace: feature names are not looked up
    fresh = _pipeline_spec(base, MODEL, {"source": "data/new.parquet"}, None).spec
    assert isinstance(fresh.data, FeatureData)
    assert fresh.data.entities == "data/new.parquet" and fresh.data.features == "fraud_features"
    assert fresh.registration is not None and fresh.registration.promote_to is None
    logged = _pipeline_spec(
        base, MODEL, {"source": "s3://b/train.parquet", "format": "parquet"}, {"amount", "is_fraud"}
    ).spec
    assert isinstance(logged.data, FileData) and logged.data.source == "s3://b/train.parquet"
    assert logged.data.drop == []
