"""Quality per window, version and variant (checked against scikit-learn), service health
(checked against numpy), and "not enough data"."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from modelyard.monitoring import performance, service_health
from modelyard.monitoring.metrics import score_metrics

METRICS = ["accuracy", "precision", "recall", "f1", "roc_auc"]


def _rows(n: int = 400, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n).astype(float)
    proba = np.clip(label * 0.6 + rng.normal(0.2, 0.25, n), 0, 1)
    return pa.table(
        {
            "prediction_id": [f"p{i}" for i in range(n)],
            "version": np.where(np.arange(n) % 3 == 0, 2, 1),
            "variant": np.where(np.arange(n) % 2 == 0, "a", "b"),
            "prediction": (proba >= 0.5).astype(float),
            "proba": proba,
            "label": label,
        }
    )


def test_metrics_match_sklearn_overall_and_per_group() -> None:
    table = _rows()
    result = performance(table, METRICS, min_labels=30)
    assert result.status == "ok" and result.n_labelled == 400
    y, pred, proba = (table.column(c).to_numpy() for c in ("label", "prediction", "proba"))
    expected = {
        "accuracy": accuracy_score(y, pred),
        "precision": precision_score(y, pred),
        "recall": recall_score(y, pred),
        "f1": f1_score(y, pred),
        "roc_auc": roc_auc_score(y, proba),
    }
    assert result.metrics == pytest.approx(expected)
    assert len(result.groups) == 4  # versions 1, 2 x variants a, b
    group = next(g for g in result.groups if (g["version"], g["variant"]) == (2, "a"))
    mask = (table.column("version").to_numpy() == 2) & (table.column("variant").to_numpy() == "a")
    assert group["n_labelled"] == mask.sum()
    assert group["metrics"]["accuracy"] == pytest.approx(accuracy_score(y[mask], pred[mask]))
    rows = result.rows()
    assert {
        "metric": "f1",
        "value": expected["f1"],
        "version": None,
        "variant": None,
        "n": 400,
    } in [{**r, "value": pytest.approx(r["value"])} for r in rows]


def test_not_enough_data_and_undefined_metrics() -> None:
    few = performance(_rows(10), METRICS, min_labels=30)
    assert few.status == "not_enough_data" and few.metrics["accuracy"] is None
    assert "10 labelled predictions in the window; 30 needed" in few.message
    empty = performance(_rows(0), METRICS, min_labels=1)
    assert empty.status == "not_enough_data"
    one_class = score_metrics(["roc_auc", "accuracy"], np.ones(5), np.ones(5), np.full(5, 0.9))
    assert one_class.values == {"roc_auc": None, "accuracy": 1.0}
    assert "both classes" in one_class.notes["roc_auc"]
    no_proba = score_metrics(["roc_auc"], np.array([0, 1]), np.array([0, 1]), None)
    assert no_proba.values["roc_auc"] is None


def test_text_classes_and_regression() -> None:
    y = np.array(["cat", "dog", "dog", "cat"], dtype=object)
    pred = np.array(["cat", "dog", "cat", "cat"], dtype=object)
    scores = score_metrics(["accuracy", "recall"], y, pred)
    assert scores.values == {"accuracy": 0.75, "recall": 0.5}  # positive class: 'dog'
    reg = score_metrics(["rmse", "mae", "accuracy"], np.array([1.5, 2.0]), np.array([1.0, 2.5]))
    assert reg.values["rmse"] == pytest.approx(0.5) and reg.values["accuracy"] is None


def test_service_health_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    n = 1000
    latency = rng.gamma(2.0, 10.0, n)
    status = np.where(rng.random(n) < 0.07, "error", "ok")
    table = pa.table(
        {
            "version": np.where(np.arange(n) < 600, 1, 2),
            "variant": ["main"] * n,
            "latency_ms": latency,
            "status": status,
        }
    )
    result = service_health(table)
    assert result.metrics["latency_p95_ms"] == pytest.approx(np.percentile(latency, 95))
    assert result.metrics["error_rate"] == pytest.approx((status == "error").mean())
    v2 = next(g for g in result.groups if g["version"] == 2)
    assert v2["n"] == 400
    assert v2["latency_p95_ms"] == pytest.approx(np.percentile(latency[600:], 95))
    assert service_health(None).status == "not_enough_data"
