"""Pipelines end to end on real stores: registration, caching, the gate, lineage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from modelyard.entities import LineageNode, RunStatus
from modelyard.errors import InvalidArgumentError
from modelyard.pipeline import PipelineResult, run
from modelyard.registry import RegistryClient
from modelyard.storage import Workspace
from modelyard.tracking import TrackingClient
from tests.pipeline.helpers import spec, write_data


def statuses(result: PipelineResult) -> dict[str, str]:
    return {name: o.status for name, o in result.steps.items()}


def run_spec(raw: dict[str, Any], ws: Workspace, base: Path, **kwargs: Any) -> PipelineResult:
    return run(raw, workspace=ws, base_dir=str(base), **kwargs)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    write_data(tmp_path)
    return tmp_path


def test_end_to_end_registers_promotes_and_loads_by_alias(workspace: Workspace, data: Path) -> None:
    raw = spec(
        evaluate={
            "metrics": ["roc_auc", "average_precision", "f1"],
            "cross_validation": {"method": "timeseries", "folds": 3},
        }
    )
    raw["train"]["tune"] = {
        "n_trials": 4,
        "parallelism": 2,
        "space": {"learning_rate": [0.05, 0.3, "log"], "num_leaves": [4, 31]},
    }
    result = run_spec(raw, workspace, data)
    assert set(statuses(result).values()) == {"ran"}
    version = result.model_version
    assert version is not None and (version.name, version.stage) == ("fraud-detector", "production")
    assert result.metrics["roc_auc"] > 0.7
    assert (
        set(result.cv["roc_auc"]) == {"mean", "std", "folds"}
        and len(result.cv["roc_auc"]["folds"]) == 3
    )
    assert set(result.best_params) == {"learning_rate", "num_leaves"}

    # the registered model loads by alias and scores raw rows (the transform is inside it)
    frame = pd.read_parquet(data / "data" / "tx.parquet")
    rows = frame.drop(columns=["is_fraud"]).tail(50)
    model = RegistryClient(workspace).load_model("models:/fraud-detector@production")
    proba = model.predict_proba(rows)
    assert proba.shape == (50, 2) and ((proba >= 0) & (proba <= 1)).all()
    assert set(model.predict(rows)) <= {0, 1}
    # ... as ONE scikit-learn Pipeline whose transform was fitted on the training rows only
    from sklearn.pipeline import Pipeline

    from modelyard.pipeline.splits import split_rows

    assert isinstance(model.raw, Pipeline)
    assert [name for name, _ in model.raw.steps] == ["preprocess", "model"]
    columns = model.raw.named_steps["preprocess"].named_steps["columns"]
    numeric = columns.named_transformers_["numeric"]
    train, test = split_rows(
        "temporal", 0.25, y=frame["is_fraud"], timestamps=frame["event_ts"], seed=0
    )
    assert len(test) == 1000
    amount = list(columns.transformers_[0][2]).index("amount")
    scaler_mean = numeric.named_steps["scale"].mean_[amount]
    assert scaler_mean == pytest.approx(frame["amount"].iloc[train].mean())
    assert scaler_mean != pytest.approx(frame["amount"].mean())

    tracking = TrackingClient(workspace)
    stored = tracking.get_run(result.run_id)
    assert stored.status is RunStatus.FINISHED
    assert stored.tags["modelyard.pipeline"] == "fraud"
    assert stored.tags["modelyard.pipeline.gate"] == "passed"
    assert stored.tags["modelyard.pipeline.model_version"] == "fraud-detector/1"
    assert stored.metrics["test.roc_auc"] == pytest.approx(result.metrics["roc_auc"])
    assert "cv.roc_auc.mean" in stored.metrics and "data.rows" in stored.metrics
    assert stored.params["model.num_leaves"] == str(result.best_params["num_leaves"])
    assert [i.num_rows for i in stored.inputs] == [4000]
    artifacts = {a.path for a in tracking.list_artifacts(result.run_id)}
    for path in (
        "pipeline/spec.yaml",
        "pipeline/steps.json",
        "validation/report.json",
        "validation/report.txt",
        "transform/plan.json",
        "tune/result.json",
        "model/MODEL.yaml",
        "evaluation/metrics.json",
        "evaluation/plots/confusion_matrix.png",
        "evaluation/plots/roc_curve.png",
        "evaluation/plots/pr_curve.png",
        "register/gate.json",
    ):
        assert path in artifacts, path
    png = tracking.artifacts_of(result.run_id).read_bytes("evaluation/plots/roc_curve.png")
    assert png.startswith(b"\x89PNG")

    # each trial is a child run with its params and score
    trials = tracking.search_runs("fraud", "tags.`modelyard.pipeline.trial` = 'fraud'").items
    assert len(trials) == 4 and all(t.parent_run_id == result.run_id for t in trials)
    assert all(set(t.params) == {"learning_rate", "num_leaves"} for t in trials)
    assert any("valid.roc_auc" in t.metrics for t in trials)

    # lineage: dataset -> run -> model version
    upstream = workspace.metadata.audit.get_lineage(
        LineageNode("model_version", "fraud-detector/1")
    )
    kinds = {(e.source.kind, e.target.kind) for e in upstream}
    assert ("run", "model_version") in kinds and ("dataset", "run") in kinds
    assert version.tags["modelyard.pipeline.run_id"] == result.run_id
    assert version.metrics["test.roc_auc"] == pytest.approx(result.metrics["roc_auc"])


def test_the_cache_reruns_exactly_the_steps_downstream_of_a_change(
    workspace: Workspace, data: Path
) -> None:
    raw = spec()
    first = run_spec(raw, workspace, data)
    assert set(statuses(first).values()) == {"ran", "skipped"}  # no tune section

    again = run_spec(raw, workspace, data)
    assert statuses(again) == {
        "ingest": "ran",
        "validate": "cached",
        "split": "cached",
        "transform": "cached",
        "tune": "skipped",
        "train": "cached",
        "evaluate": "cached",
        "register": "ran",
    }
    assert again.metrics == first.metrics
    assert again.steps["train"].cached_from == first.run_id
    # a re-run that asks for staging does not move the production model back
    staging = spec()
    staging["register"]["promote_to"] = "staging"
    kept = run_spec(staging, workspace, data)
    assert "already in production" in kept.steps["register"].summary
    assert RegistryClient(workspace).get_version("fraud-detector", 1).stage == "production"
    # the same model is not registered twice
    assert again.model_version is not None and again.model_version.version == 1
    assert "same model" in again.steps["register"].summary

    raw["evaluate"]["threshold"] = 0.3
    changed_eval = run_spec(raw, workspace, data)
    assert statuses(changed_eval)["train"] == "cached"
    assert statuses(changed_eval)["evaluate"] == "ran"

    raw["transform"]["numeric"]["scale"] = "none"
    changed_transform = run_spec(raw, workspace, data)
    s = statuses(changed_transform)
    assert (s["validate"], s["split"]) == ("cached", "cached")
    assert (s["transform"], s["train"], s["evaluate"]) == ("ran", "ran", "ran")

    write_data(data, seed=2)  # a new data file: everything downstream of ingest runs again
    new_data = run_spec(raw, workspace, data)
    assert {
        statuses(new_data)[k] for k in ("validate", "split", "transform", "train", "evaluate")
    } == {"ran"}

    forced = run_spec(raw, workspace, data, use_cache=False)
    assert "cached" not in statuses(forced).values()
    assert forced.metrics == pytest.approx(new_data.metrics)


def test_the_gate_compares_with_the_holder_on_the_same_test_rows(
    workspace: Workspace, data: Path
) -> None:
    registry = RegistryClient(workspace)
    good = run_spec(spec(), workspace, data)
    assert good.model_version is not None and good.model_version.stage == "production"

    worse = spec()
    worse["train"]["params"] = {"n_estimators": 2, "num_leaves": 2, "learning_rate": 0.01}
    worse["transform"]["drop"] = ["amount", "merchant_category"]
    failed = run_spec(worse, workspace, data)
    assert failed.model_version is None
    assert failed.gate is not None and not failed.gate["passed"]
    beat = failed.gate["checks"][-1]
    assert beat["check"] == "must_beat" and beat["holder"] == 1
    # the holder, scored again on this run's test rows, gives exactly its own test score
    assert beat["holder_value"] == pytest.approx(good.metrics["roc_auc"])
    assert "does not beat fraud-detector v1 (production)" in beat["detail"]
    stored = TrackingClient(workspace).get_run(failed.run_id)
    assert stored.status is RunStatus.FINISHED
    assert stored.tags["modelyard.pipeline.gate"] == "failed"
    assert "does not beat" in stored.tags["modelyard.pipeline.gate.reason"]
    assert [v.version for v in registry.list_versions("fraud-detector")] == [1]

    worse["register"]["on_gate_failure"] = "register"
    kept = run_spec(worse, workspace, data)
    assert kept.model_version is not None and kept.model_version.stage is None
    assert kept.model_version.tags["modelyard.pipeline.gate"] == "failed"
    assert registry.resolve("models:/fraud-detector@production").version == 1

    strict = spec()
    strict["register"]["gate"]["min"] = 0.9999
    strict["train"]["params"]["n_estimators"] = 41  # a new model, so the gate really runs
    refused = run_spec(strict, workspace, data)
    assert refused.model_version is None and "min 0.9999" in refused.gate["checks"][0]["detail"]  # type: ignore[index]
    assert len(registry.list_versions("fraud-detector")) == 2


def test_custom_features_and_metrics_by_import_path(workspace: Workspace, data: Path) -> None:
    raw = spec(
        transform={
            "features": [
                {"function": "tests.pipeline.custom:log_amount", "params": {"column": "amount"}}
            ]
        },
        evaluate={
            "metrics": [
                "roc_auc",
                {"name": "top_decile", "function": "tests.pipeline.custom:top_decile_precision"},
            ]
        },
    )
    result = run_spec(raw, workspace, data)
    assert 0 <= result.metrics["top_decile"] <= 1
    plan = TrackingClient(workspace).artifacts_of(result.run_id).read_bytes("transform/plan.json")
    assert b"log_amount" in plan
    # the custom function is declared in the manifest: trusted when loaded through the registry
    model = RegistryClient(workspace).load_model("models:/fraud-detector@production")
    rows = pd.read_parquet(data / "data" / "tx.parquet").drop(columns=["is_fraud"]).head(5)
    assert model.predict_proba(rows).shape == (5, 2)
    # ... and refused from a bare directory unless the caller trusts it
    from modelyard.errors import UntrustedModelError
    from modelyard.flavors import load_model

    local, _ = RegistryClient(workspace).download("models:/fraud-detector/1")
    with pytest.raises(UntrustedModelError, match="log_amount"):
        load_model(local)


def test_a_custom_estimator_by_import_path(workspace: Workspace, data: Path) -> None:
    raw = spec(
        train={
            "model": "tests.pipeline.custom:AmountRule",
            "params": {"C": 0.5},
            "class_weight": "balanced",
        },
        evaluate={"metrics": ["roc_auc"], "cross_validation": {"method": "stratified", "folds": 3}},
    )
    result = run_spec(raw, workspace, data)
    assert result.metrics["roc_auc"] > 0.6 and len(result.cv["roc_auc"]["folds"]) == 3
    assert result.model_version is not None
    model = RegistryClient(workspace).load_model("models:/fraud-detector/1")
    rows = pd.read_parquet(data / "data" / "tx.parquet").drop(columns=["is_fraud"]).head(3)
    assert model.predict_proba(rows).shape == (3, 2)
    # class_weight: balanced reached the estimator's fit as per-row weights
    from modelyard.pipeline.splits import split_rows

    frame = pd.read_parquet(data / "data" / "tx.parquet")
    train, _ = split_rows(
        "temporal", 0.25, y=frame["is_fraud"], timestamps=frame["event_ts"], seed=0
    )
    y_train = frame["is_fraud"].iloc[train].to_numpy()
    weights = model.raw.named_steps["model"].fit_weights_
    assert weights is not None and len(weights) == len(y_train)
    for label in (0, 1):  # balanced: each class carries half of the total weight
        assert weights[y_train == label].sum() == pytest.approx(len(y_train) / 2)
    again = run_spec(raw, workspace, data)  # the cached model loads with the declared type
    assert again.steps["train"].status == "cached"


def test_regression_with_a_scikit_learn_estimator_by_name(workspace: Workspace, data: Path) -> None:
    raw = spec(
        data={
            "source": "data/tx.parquet",
            "target": "amount",
            "timestamp": "event_ts",
            "drop": ["transaction_id", "customer_id", "merchant_id", "is_fraud"],
        },
        validation=None,
        train={"model": "HistGradientBoostingRegressor", "params": {"max_iter": 30}},
        evaluate={"metrics": ["rmse", "r2"], "cross_validation": {"method": "kfold", "folds": 2}},
        register={"model": "amount-model", "gate": {"metric": "rmse", "max": 1e6}},
    )
    result = run_spec(raw, workspace, data)
    assert (
        result.steps["split"].summary.endswith("(regression)")
        or "regression" in result.steps["split"].summary
    )
    assert set(result.metrics) == {"rmse", "r2"} and result.metrics["rmse"] > 0
    assert result.model_version is not None and result.model_version.stage is None
    assert any(p.endswith("predicted_vs_actual.png") for p in result.plots)


def multiclass_spec(**train: Any) -> dict[str, Any]:
    """The payment channel (pos / online / atm, as text) as a three-class target."""
    return spec(
        data={
            "source": "data/tx.parquet",
            "target": "channel",
            "drop": ["transaction_id", "customer_id", "merchant_id", "event_ts", "is_fraud"],
        },
        validation=None,
        split={"method": "stratified"},
        train={"model": "lightgbm", "params": {"n_estimators": 20}, **train},
        evaluate={},
        register=None,
    )


def test_a_three_class_target_with_the_default_metrics(workspace: Workspace, data: Path) -> None:
    raw = multiclass_spec(
        # log_loss: LightGBM reports multi_logloss for pruning, on text labels it must encode
        tune={
            "n_trials": 2,
            "parallelism": 1,
            "metric": "log_loss",
            "space": {"num_leaves": [4, 15]},
        }
    )
    result = run_spec(raw, workspace, data)
    assert "(classification)" in result.steps["split"].summary
    assert "0 failed" in result.steps["tune"].summary
    assert list(result.metrics) == ["roc_auc", "average_precision", "f1", "accuracy", "log_loss"]
    assert 0 < result.metrics["average_precision"] <= 1 and result.metrics["roc_auc"] > 0.5

    # a metric only defined for two classes, listed explicitly, is refused by name
    brier = multiclass_spec()
    brier["evaluate"] = {"metrics": ["accuracy", "brier"]}
    with pytest.raises(InvalidArgumentError) as err:
        run_spec(brier, workspace, data)
    assert err.value.details["field"] == "evaluate.metrics"
    assert "'brier' is defined for two classes; this target has 3" in err.value.message


def test_multiclass_average_precision_is_the_macro_average_over_present_classes() -> None:
    import numpy as np
    from sklearn.metrics import average_precision_score

    from modelyard.pipeline.metrics import METRICS, Predictions

    rng = np.random.default_rng(0)
    classes = ["atm", "online", "pos", "wire"]
    y = rng.choice(classes[:3], size=60)  # 'wire' never occurs: it has no precision to average
    proba = rng.dirichlet(np.ones(4), size=60)
    preds = Predictions(y, y, proba, classes)
    per_class = [average_precision_score(y == c, proba[:, i]) for i, c in enumerate(classes[:3])]
    assert METRICS["average_precision"](preds) == pytest.approx(np.mean(per_class))


def test_xgboost_with_tuning_in_one_process(workspace: Workspace, data: Path) -> None:
    raw = spec()
    raw["train"] = {
        "model": "xgboost",
        "params": {"n_estimators": 20, "max_depth": 3},
        "class_weight": {"1": 20},
        "tune": {"n_trials": 3, "parallelism": 1, "space": {"learning_rate": [0.05, 0.3]}},
    }
    result = run_spec(raw, workspace, data)
    assert result.steps["tune"].status == "ran" and "learning_rate" in result.best_params
    assert result.model_version is not None


@pytest.mark.s3
def test_data_from_s3(tmp_path: Path, s3_bucket: tuple[str, str]) -> None:
    from modelyard.config import Settings

    endpoint, bucket = s3_bucket
    ws = Workspace(Settings.resolve(home=str(tmp_path / "home"), s3_endpoint_url=endpoint))
    local = write_data(tmp_path)
    ws.artifact_store_for(f"s3://{bucket}").put_file(local, "raw/tx.parquet")
    raw = spec()
    raw["data"]["source"] = f"s3://{bucket}/raw/tx.parquet"
    result = run(raw, workspace=ws)
    assert result.model_version is not None
    inputs = TrackingClient(ws).get_run(result.run_id).inputs
    assert inputs[0].source == f"s3://{bucket}/raw/tx.parquet"
