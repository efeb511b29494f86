"""Steps 4-10, the fraud project of ``examples/fraud``: generate payments, define and
materialize features, train the fraud pipeline on point-in-time features, re-run it from the
cache, score payments with features read online and the model loaded by alias, check parity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelyard.demo.common import (
    DAYS,
    DRIFT_FROM,
    EXAMPLE_FEATURES,
    EXAMPLE_SPEC,
    ROWS,
    START,
    TRAIN_UNTIL,
    FraudProject,
    console,
    step,
)


@step("4. Generate card transactions")
def generate_transactions(ws: Any) -> FraudProject:
    import shutil

    import pandas as pd
    import yaml

    from modelyard.datasets import make_transactions

    for example in (EXAMPLE_SPEC, EXAMPLE_FEATURES):
        if not example.is_file():
            raise SystemExit(f"{example} not found: run the demo from the repository root.")
    project = FraudProject(Path(ws.settings.home) / "demo" / "fraud")
    project.data.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLE_FEATURES, project.features)
    project.pipeline.write_text(yaml.safe_dump(_fraud_spec(), sort_keys=False))
    project.retrain_pipeline.write_text(yaml.safe_dump(_retrain_spec(), sort_keys=False))
    payments = make_transactions(
        ROWS, n_customers=1_500, days=DAYS, start=START, seed=7, drift_from=DRIFT_FROM
    )
    payments.to_parquet(project.stream, index=False)
    history = payments[payments.event_ts < pd.Timestamp(TRAIN_UNTIL)]
    history.to_parquet(project.data, index=False)
    console.print(
        f"{len(payments):,} payments over {DAYS} days (about 1.5 % fraud); from {DRIFT_FROM} "
        "amounts grow, new merchant categories appear and fraud changes its pattern"
    )
    console.print(
        f"ingested so far: the {len(history):,} payments before {TRAIN_UNTIL} -> {project.data}"
    )
    return project


@step("5. Define features: apply examples/fraud/features.py")
def apply_features(ws: Any, project: FraudProject) -> None:
    from modelyard.features import FeatureStore

    for applied in FeatureStore(ws).apply(project.features):
        kind = applied.kind.replace("_", " ")
        console.print(f"  {kind:<16} {applied.name:<16} v{applied.version}  {applied.status}")


def _data_span(project: FraudProject) -> tuple[Any, Any]:
    """The first and last payment's times; the last is the demo's "now"."""
    import pyarrow.parquet as pq

    times = pq.read_table(project.data, columns=["event_ts"]).column(0).to_pandas()
    return times.min(), times.max()


@step("6. Materialize the features into the online store")
def materialize_features(ws: Any, project: FraudProject) -> None:
    from modelyard.features import FeatureStore

    start, end = _data_span(project)
    done = FeatureStore(ws).materialize(start, end)
    for m in done:
        console.print(f"  {m.view:<16} {m.rows:>6,} entities online")
    console.print(
        f"materialized up to {end} (the demo's now), online store: {ws.settings.online_uri}"
    )


def _fraud_spec() -> dict[str, Any]:
    """examples/fraud/pipeline_features.yaml with a demo-sized search (fewer, smaller trees)."""
    import yaml

    spec: dict[str, Any] = yaml.safe_load(EXAMPLE_SPEC.read_text())
    spec["train"]["tune"]["n_trials"] = 6
    spec["train"]["tune"]["space"]["num_leaves"] = [15, 63]
    spec["evaluate"]["cross_validation"]["folds"] = 3
    return spec


def _retrain_spec() -> dict[str, Any]:
    """The same pipeline for the monitor's retrains, with a stratified split: a pattern only
    days old must be in the training rows (a temporal split would hold all of it out). The
    models are compared on production's own labelled traffic, which the retrain never trains
    on (see ``modelyard.demo.loop``)."""
    spec = _fraud_spec()
    spec["name"] = "fraud-features-retrain"
    spec["split"] = {"method": "stratified", "test_fraction": 0.2}
    spec["train"]["tune"]["n_trials"] = 4
    return spec


@step("7. Run the fraud pipeline on point-in-time features (validate, tune, train, register)")
def run_fraud_pipeline(ws: Any, project: FraudProject) -> Any:
    from modelyard.entities import LineageNode
    from modelyard.pipeline import Reporter, StepOutcome, run

    class Printer(Reporter):
        def step_finished(self, step: str, outcome: StepOutcome) -> None:
            console.print(
                f"  {step:<10} {outcome.status:<8} {outcome.seconds:5.1f} s  {outcome.summary}"
            )

    result = run(project.pipeline, workspace=ws, reporter=Printer())
    console.print(
        "held-out metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in result.metrics.items())
    )
    if result.cv:
        auc = result.cv["roc_auc"]
        console.print(f"time-series CV roc_auc: {auc['mean']:.4f} +/- {auc['std']:.4f}")
    console.print(f"best params: {result.best_params}")
    console.print(f"register: {result.steps['register'].summary}")
    lineage = ws.metadata.audit.get_lineage(LineageNode("run", result.run_id))
    views = sorted(e.source.id for e in lineage if e.source.kind == "feature_view")
    console.print(f"lineage: feature views {', '.join(views)} -> run {result.run_id}")
    console.print("plots:")
    for plot in result.plots:
        console.print(f"  {plot}")
    return result


@step("8. Run it again: unchanged steps come from the cache")
def rerun_fraud_pipeline(ws: Any, project: FraudProject) -> None:
    from modelyard.pipeline import run

    result = run(project.pipeline, workspace=ws)
    console.print(
        f"cached: {', '.join(result.cached_steps)}; {result.seconds:.2f} s in all; "
        f"register: {result.steps['register'].summary}"
    )


@step("9. Score payments: features read online, the model loaded by alias")
def score_with_online_features(ws: Any, project: FraudProject) -> None:
    import pandas as pd

    from modelyard.features import FeatureStore
    from modelyard.pipeline import FEATURE_SERVICE_TAG, JOIN_KEYS_TAG
    from modelyard.registry import RegistryClient

    registry = RegistryClient(ws)
    uri = "models:/fraud-detector@staging"
    version, model = registry.resolve(uri), registry.load_model(uri)
    service = version.tags[FEATURE_SERVICE_TAG]  # the model version says what it needs
    keys = version.tags[JOIN_KEYS_TAG].split(",")
    console.print(f"{uri} is v{version.version}; it needs feature service {service!r} by {keys}")
    tx = pd.read_parquet(project.data)
    end = tx.event_ts.max()
    # recent payments, read as of the demo's now: the rolling windows end there, not at the payment
    latest = tx.groupby("customer_id").tail(1)
    latest = latest[latest.event_ts > end - pd.Timedelta(days=3)]
    rows = pd.concat([latest[latest.is_fraud == 1].tail(3), latest[latest.is_fraud == 0].tail(3)])
    online = FeatureStore(ws).get_online_features(service, rows[keys].to_dict("records"), now=end)
    features = online.to_frame()
    request = pd.concat([rows.reset_index(drop=True), features], axis=1)
    assert model.signature is not None
    proba = model.predict_proba(request[model.signature.input_names])[:, 1]
    statuses = {s for row in online.statuses for s in row}
    console.print(
        f"{len(online.feature_names)} features for {len(rows)} payments read online as of "
        f"{end} (statuses: {', '.join(sorted(statuses))})"
    )
    for (_, row), (_, feats), p in zip(request.iterrows(), features.iterrows(), proba):
        console.print(
            f"  {row.transaction_id} {row.customer_id} {row.amount:>8.2f} "
            f"{row.merchant_category:<13} tx_1h {feats.tx_count_1h:>2.0f}  spend_24h "
            f"{feats.amount_sum_1d:>8.2f}  merchant_fraud_30d {_rate(feats.fraud_rate_30d)}  "
            f"p(fraud) {p:.3f}  (actual: {'fraud' if row.is_fraud else 'ok'})"
        )


def _rate(value: Any) -> str:
    import math

    return "  n/a" if value is None or math.isnan(value) else f"{value:5.3f}"


@step("10. Check training-serving parity: offline point-in-time vs online values")
def check_feature_parity(ws: Any) -> Any:
    from modelyard.features import FeatureStore

    report = FeatureStore(ws).check_parity("fraud_features", sample=200)
    console.print(
        f"{report.entities} entities, {report.compared} values compared: "
        f"{len(report.mismatches)} mismatches"
    )
    for m in report.mismatches[:10]:
        console.print(
            f"  {m.view} {m.entity} {m.feature}: offline {m.offline!r} online {m.online!r} "
            f"({m.online_status})"
        )
    return report
