"""Pipelines that train on the feature store: ``data: {features:, entities:}``.

Real stores throughout (SQLite metadata and online store, DuckDB offline store): the spec
checks against the registry, point-in-time training rows (no value from a row's future, no
label leakage), lineage from the model version back to the feature view versions, and the
step cache following view versions and the entity file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from modelyard.entities import LineageNode
from modelyard.errors import DataValidationError, NotFoundError, SpecError
from modelyard.features import FeatureStore
from modelyard.pipeline import FEATURE_SERVICE_TAG, PipelineResult, load_spec, run
from modelyard.pipeline.sources import load_data
from modelyard.registry import RegistryClient
from modelyard.storage import Workspace
from modelyard.tracking import TrackingClient
from tests.pipeline.helpers import (
    LABEL_COLUMNS,
    feature_spec,
    write_feature_project,
    write_labels,
)

FEATURES = [
    "amount_sum_1h",
    "amount_sum_1d",
    "amount_sum_7d",
    "tx_count_1h",
    "tx_count_24h",
    "tx_count_7d",
    "amount_mean_7d",
    "amount_max_1d",
    "fraud_rate_7d",
    "fraud_rate_30d",
    "labelled_tx_7d",
]


@pytest.fixture
def project(tmp_path: Path, workspace: Workspace) -> Path:
    FeatureStore(workspace).apply(write_feature_project(tmp_path))
    return tmp_path


def problems(raw: Any, ws: Workspace | None = None, base: Path | None = None) -> str:
    with pytest.raises(SpecError) as err:
        load_spec(raw, workspace=ws, base_dir=base)
    return "\n".join(err.value.details["problems"])


def training_rows(ws: Workspace, base: Path, **data: Any) -> pd.DataFrame:
    return load_data(load_spec(feature_spec(**data), base_dir=base), ws).dataset.frame


def statuses(result: PipelineResult) -> dict[str, str]:
    return {name: o.status for name, o in result.steps.items()}


# -- the spec --------------------------------------------------------------------------------
def test_the_example_feature_spec_is_valid_against_the_example_definitions(
    project: Path, workspace: Workspace
) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "fraud" / "pipeline_features.yaml"
    (project / "pipeline_features.yaml").write_text(example.read_text())
    loaded = load_spec(project / "pipeline_features.yaml", workspace=workspace)
    assert loaded.spec.data.features == "fraud_features"  # type: ignore[union-attr]
    assert loaded.resolve("data/transactions.parquet") == str(
        project / "data" / "transactions.parquet"
    )


def test_shape_problems_are_reported_with_paths() -> None:
    both = feature_spec(source="data/tx.parquet")
    assert "data: give either source (a file) or features + entities" in problems(both)
    one_ref = feature_spec(features="customer_spend:tx_count_1h")
    assert "data.features: 'customer_spend:tx_count_1h' is a feature reference" in problems(one_ref)
    text = problems(feature_spec(features=["customer_spend", "customer_spend"], entites="x"))
    assert "data.features: 'customer_spend' is listed twice" in text
    assert "data.entites: unknown key; did you mean 'entities'?" in text
    no_time = feature_spec()
    del no_time["data"]["timestamp"]
    assert "data.timestamp: required key is missing" in problems(no_time)
    assert "data.features: name a feature service" in problems(feature_spec(features=[]))


def test_unknown_names_are_reported_before_anything_runs_with_close_names(
    project: Path, workspace: Workspace
) -> None:
    raw = feature_spec(features="fraud_featres")
    path = project / "spec.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    text = problems(path, workspace)
    line = yaml.safe_dump(raw, sort_keys=False).splitlines().index("  features: fraud_featres") + 1
    assert f"data.features (line {line}): No feature service named 'fraud_featres'" in text
    assert "did you mean 'fraud_features'?" in text

    raw = feature_spec(
        features=["customer_spend:tx_count_1h", "custmer_spend", "merchant_risk:fraud_rate_7"],
        entities="data/nope.parquet",
        target="tx_count_1h",
    )
    text = problems(raw, workspace, project)
    assert "data.features[1]: No feature view named 'custmer_spend'" in text
    assert "did you mean 'customer_spend'?" in text
    assert "data.features[2]: Feature view 'merchant_risk' has no feature 'fraud_rate_7'" in text
    assert "data.entities: " in text and "nope.parquet' does not exist" in text
    # a label named like a feature is caught once the references resolve
    raw = feature_spec(features=["customer_spend:tx_count_1h"], target="tx_count_1h")
    assert "data.target: 'tx_count_1h' is also the name of a feature" in problems(
        raw, workspace, project
    )
    # run() checks the same, before it starts a tracking run
    with pytest.raises(SpecError, match="fraud_featres"):
        run(feature_spec(features="fraud_featres"), workspace=workspace, base_dir=str(project))
    assert list(TrackingClient(workspace).search_runs(None, "", max_results=5)) == []


# -- the training rows -----------------------------------------------------------------------
def test_training_rows_hold_point_in_time_features(project: Path, workspace: Workspace) -> None:
    labels = pd.read_parquet(project / "data" / "labels.parquet")
    frame = training_rows(workspace, project)
    assert list(frame.columns) == [*labels.columns, *FEATURES]
    pd.testing.assert_frame_equal(frame[labels.columns], labels)  # every row, in order
    tx = pd.read_parquet(project / "data" / "transactions.parquet")
    rng = np.random.default_rng(0)
    for i in rng.choice(len(frame), 40, replace=False):
        row = frame.iloc[i]
        t = row.event_ts
        mine = tx[(tx.customer_id == row.customer_id) & (tx.event_ts <= t)]
        last_hour = mine[mine.event_ts >= t - pd.Timedelta(hours=1)]
        assert row.tx_count_1h == len(last_hour)
        assert row.amount_sum_1h == pytest.approx(last_hour.amount.sum())
        # merchant labels are known a day after the payment
        known = tx[(tx.merchant_id == row.merchant_id) & (tx.event_ts + pd.Timedelta(days=1) <= t)]
        if known.empty:
            assert pd.isna(row.fraud_rate_7d)
            continue
        # the rate over the labels of the week up to t (none in that week: null)
        week = known[known.event_ts + pd.Timedelta(days=1) >= t - pd.Timedelta(days=7)]
        if week.empty:
            assert pd.isna(row.fraud_rate_7d)
            continue
        assert row.fraud_rate_7d == pytest.approx(week.is_fraud.mean())


def test_no_value_from_a_rows_future_and_no_label_leakage(
    project: Path, workspace: Workspace
) -> None:
    path = project / "data" / "transactions.parquet"
    tx = pd.read_parquet(path)
    before = training_rows(workspace, project)
    cut = tx.event_ts.quantile(0.6)

    # rewrite the future: every payment after `cut` costs ten times more and flips its label
    future = tx.event_ts > cut
    changed = tx.copy()
    changed.loc[future, "amount"] *= 10
    changed.loc[future, "is_fraud"] = 1 - changed.loc[future, "is_fraud"]
    changed.to_parquet(path, index=False)
    after = training_rows(workspace, project)
    past = (before.event_ts <= cut).to_numpy()
    pd.testing.assert_frame_equal(before[past], after[past])
    assert not before.loc[~past, "amount_sum_7d"].equals(after.loc[~past, "amount_sum_7d"])

    # labels alone: the customer features never read them; a merchant's rate sees a label only
    # a day after its payment
    relabelled = tx.copy()
    relabelled.loc[future, "is_fraud"] = 1 - relabelled.loc[future, "is_fraud"]
    relabelled.to_parquet(path, index=False)
    write_labels(project, tx)  # the entity rows keep their own labels
    flipped = training_rows(workspace, project)
    customer = [f for f in FEATURES if f.startswith(("amount", "tx_count"))]
    pd.testing.assert_frame_equal(before[customer], flipped[customer])
    within_a_day = (before.event_ts < cut + pd.Timedelta(days=1)).to_numpy()
    pd.testing.assert_frame_equal(before[within_a_day], flipped[within_a_day])
    later = ~within_a_day
    assert not before.loc[later, "fraud_rate_7d"].equals(flipped.loc[later, "fraud_rate_7d"])


def test_entity_rows_are_checked(project: Path, workspace: Workspace) -> None:
    labels = pd.read_parquet(project / "data" / "labels.parquet")
    labels.drop(columns=["merchant_id"]).to_parquet(project / "data" / "labels.parquet")
    with pytest.raises(DataValidationError, match="no column 'merchant_id'.*merchant_risk") as err:
        training_rows(workspace, project, drop=["transaction_id", "customer_id"])
    assert err.value.details["field"] == "data.entities"

    labels.assign(tx_count_1h=1).to_parquet(project / "data" / "labels.parquet")
    with pytest.raises(DataValidationError, match="already have a column 'tx_count_1h'"):
        training_rows(workspace, project)
    full = training_rows(workspace, project, full_feature_names=True)
    assert "tx_count_1h" in full and "customer_spend__tx_count_1h" in full
    labels.to_parquet(project / "data" / "labels.parquet")

    # a CSV entity file with ISO-8601 text times works like Parquet
    labels.assign(event_ts=labels.event_ts.dt.strftime("%Y-%m-%dT%H:%M:%S")).to_csv(
        project / "data" / "labels.csv", index=False
    )
    from_csv = training_rows(workspace, project, entities="data/labels.csv")
    from_parquet = training_rows(workspace, project, entities="data/labels.parquet")
    assert np.allclose(
        from_csv[FEATURES].to_numpy(dtype=float),
        from_parquet[FEATURES].to_numpy(dtype=float),
        equal_nan=True,
    )
    with pytest.raises(NotFoundError, match="does not exist") as err:
        training_rows(workspace, project, entities="data/missing.parquet")
    assert err.value.details["field"] == "data.entities"


# -- runs: lineage, model, cache -------------------------------------------------------------
def test_run_records_features_lineage_and_model_inputs(project: Path, workspace: Workspace) -> None:
    result = run(feature_spec(), workspace=workspace, base_dir=str(project))
    version = result.model_version
    assert version is not None and version.stage == "staging"
    assert version.tags[FEATURE_SERVICE_TAG] == "fraud_features"
    assert version.tags["modelyard.features.views"] == "customer_spend/1,merchant_risk/1"
    assert version.tags["modelyard.features.join_keys"] == "customer_id,merchant_id"
    references = json.loads(version.tags["modelyard.features.references"])
    assert references[0] == "customer_spend:amount_sum_1h" and len(references) == len(FEATURES)

    # lineage walks back from the model version through the run to the feature view versions
    audit = workspace.metadata.audit
    edges = audit.get_lineage(LineageNode("model_version", "fraud-detector/1"), "upstream")
    sources = {(e.source.kind, e.source.id) for e in edges}
    assert {("feature_view", "customer_spend/1"), ("feature_view", "merchant_risk/1")} <= sources
    assert ("run", result.run_id) in sources
    stored = TrackingClient(workspace).get_run(result.run_id)
    assert [i.name for i in stored.inputs] == ["fraud-training-set", "fraud-entities"]
    assert ("dataset", stored.inputs[0].digest) in sources

    # the model takes the entity columns that are not dropped plus the features
    model = RegistryClient(workspace).load_model("models:/fraud-detector@staging")
    assert model.signature is not None
    kept = [c for c in LABEL_COLUMNS if c not in ("transaction_id", "customer_id", "merchant_id")]
    assert model.signature.input_names == [*kept, *FEATURES]
    assert model.manifest.metadata["features"]["service"] == "fraud_features"
    assert model.manifest.metadata["features"]["join_keys"] == ["customer_id", "merchant_id"]
    assert model.manifest.lineage["feature_views"] == ["customer_spend/1", "merchant_risk/1"]

    # scoring with online features: the same names, fetched by the join keys
    fs = FeatureStore(workspace)
    tx = pd.read_parquet(project / "data" / "transactions.parquet")
    fs.materialize(tx.event_ts.min(), tx.event_ts.max())
    rows = tx.sort_values("event_ts").groupby("customer_id").tail(1).head(5)
    online = fs.get_online_features(
        "fraud_features",
        rows[["customer_id", "merchant_id"]].to_dict("records"),
        now=tx.event_ts.max(),
    ).to_frame()
    request = pd.concat([rows[kept].reset_index(drop=True), online[FEATURES]], axis=1)
    proba = model.predict_proba(request)[:, 1]
    assert proba.shape == (5,) and ((proba >= 0) & (proba <= 1)).all()


def test_cache_follows_feature_view_versions_and_the_entity_file(
    project: Path, workspace: Workspace
) -> None:
    first = run(feature_spec(), workspace=workspace, base_dir=str(project))
    again = run(feature_spec(), workspace=workspace, base_dir=str(project))
    assert statuses(again)["train"] == statuses(again)["evaluate"] == "cached"

    # a new version of a view (same data, longer TTL) is a new training input
    defs = (project / "features.py").read_text()
    (project / "features.py").write_text(defs.replace('ttl="7d"', 'ttl="8d"', 1))
    applied = FeatureStore(workspace).apply(project / "features.py")
    assert ("customer_spend", 2, "updated") in [(a.name, a.version, a.status) for a in applied]
    bumped = run(feature_spec(), workspace=workspace, base_dir=str(project))
    assert statuses(bumped)["split"] == statuses(bumped)["train"] == "ran"
    edges = workspace.metadata.audit.get_lineage(LineageNode("run", bumped.run_id))
    assert {e.source.id for e in edges if e.source.kind == "feature_view"} == {
        "customer_spend/2",
        "merchant_risk/1",
    }
    assert run(feature_spec(), workspace=workspace, base_dir=str(project)).cached_steps

    # a changed entity file (fewer labelled rows) is a new training input too
    labels = pd.read_parquet(project / "data" / "labels.parquet")
    labels.head(len(labels) - 200).to_parquet(project / "data" / "labels.parquet", index=False)
    fewer = run(feature_spec(), workspace=workspace, base_dir=str(project))
    assert statuses(fewer)["split"] == statuses(fewer)["train"] == "ran"
    assert first.run_id != fewer.run_id
