"""The prediction log as monitoring reads it, written by a real server over real HTTP: a shadow
model's rows (same prediction ids) stay out of the window's figures and labels count once;
requests refused as the client's mistake are logged as rejected, not as errors."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelyard.monitoring import (
    apply_monitors,
    build_profile,
    read_shadow,
    read_window,
    run_monitor,
    save_profile,
)
from modelyard.monitoring.spec import WindowSpec
from modelyard.registry import RegistryClient
from modelyard.storage import Workspace
from tests.serving import faulty
from tests.serving.helpers import metric, predict, register, row, running, training_data


def _accuracy(predicted: list[float] | np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(predicted, dtype=float) == labels))


def test_shadow_rows_stay_out_of_the_figures_and_labels_count_once(
    workspace: Workspace, model_dirs: dict[str, Path]
) -> None:
    register(workspace, model_dirs["logreg"], "fraud", "production")
    register(workspace, model_dirs["logreg_b"], "fraud", "staging")
    X_train, _ = training_data()
    save_profile(workspace, "fraud", 1, build_profile(X_train))
    X, y = training_data(n=60, seed=5)
    spec = {
        "server": {"prediction_log": {"flush_interval_s": 3600}},
        "deployments": {
            "fraud": {
                "model": "models:/fraud@production",
                "shadow": {"model": "models:/fraud@staging"},
                "preload": True,
            }
        },
    }
    ids: list[str] = []
    answered: list[float] = []
    with running(spec, workspace) as srv:
        for start in range(0, 60, 10):
            got = predict(srv.base, "fraud", X.iloc[start : start + 10].to_dict("records"))
            assert got.status_code == 200, got.text
            ids += got.json()["prediction_ids"]
            answered += got.json()["predictions"]
        deadline = time.monotonic() + 20
        labels = {"deployment": "fraud", "model": "fraud", "version": "2", "outcome": "ok"}
        while metric(srv.base, "modelyard_shadow_predictions_total", **labels) < 6:
            assert time.monotonic() < deadline, "the shadow model did not score every request"
            time.sleep(0.05)
        feedback = [{"prediction_id": i, "label": int(v)} for i, v in zip(ids, y)]
        fed = httpx.post(srv.url("/v1/feedback"), json={"feedback": feedback, "model": "fraud"})
        assert fed.status_code == 200, fed.text
        assert (fed.json()["accepted"], fed.json()["unknown"]) == (60, 0)

    log = workspace.logs.read("predictions", partition={"model": "fraud"})
    assert log is not None
    assert Counter(log.column("variant").to_pylist()) == {"default": 60, "shadow": 60}
    shadow_predicted = RegistryClient(workspace).load_model("models:/fraud/2").predict(X)
    champion, shadow = _accuracy(answered, y), _accuracy(shadow_predicted, y)
    assert champion != shadow  # else a mixed figure could not be told apart

    window = read_window(workspace, "fraud", WindowSpec(last=1000))
    assert window.table is not None and window.rows == 60
    assert sorted(window.table.column("prediction_id").to_pylist()) == sorted(ids)
    shadowed = read_shadow(workspace, window)
    assert shadowed is not None and shadowed.num_rows == 60

    apply_monitors(
        workspace,
        {
            "name": "fraud-prod",
            "model": "models:/fraud@production",
            "window": {"last": 1000},
            "checks": {"performance": {"metrics": ["accuracy"], "min_labels": 30}},
        },
    )
    check = run_monitor(workspace, "fraud-prod").check
    assert check is not None
    assert (check.n_predictions, check.n_labelled) == (60, 60)
    assert check.metric("accuracy") == pytest.approx(champion)  # what clients were answered
    details = check.details["checks"]
    groups = {(g["version"], g["variant"]): g for g in details["performance"]["groups"]}
    assert set(groups) == {(1, "default"), (2, "shadow")}
    assert groups[(2, "shadow")]["n_labelled"] == 60
    assert groups[(2, "shadow")]["metrics"]["accuracy"] == pytest.approx(shadow)
    assert details["service"]["n"] == 60
    assert details["service"]["metrics"]["latency_p50_ms"] > 0  # shadow rows log 0 ms
    assert check.drift["n_current"] == 60  # v1's profile against the rows v1 answered


def test_client_mistakes_are_rejected_not_errors(
    workspace: Workspace, model_dirs: dict[str, Path]
) -> None:
    register(workspace, model_dirs["faulty"], "faulty", "production")
    spec = {
        "server": {"prediction_log": {"flush_interval_s": 3600}},
        "deployments": {"faulty": {"model": "models:/faulty@production", "preload": True}},
    }
    apply_monitors(
        workspace,
        {
            "name": "faulty-prod",
            "model": "models:/faulty@production",
            "window": {"last": 1000},
            "checks": {"drift": False, "performance": False},
        },
    )
    with running(spec, workspace) as srv:
        for i in range(25):  # malformed: a feature that is not a number
            got = predict(srv.base, "faulty", [{**row(0), "f3": f"oops-{i}"}])
            assert got.status_code == 422, got.text
        for i in range(19):
            assert predict(srv.base, "faulty", [row(i)]).status_code == 200
        srv.server.flush_prediction_log()
        quiet = run_monitor(workspace, "faulty-prod")
        faulty.STATE["fail"] = 1
        for _ in range(2):
            assert predict(srv.base, "faulty", [row(0)]).status_code == 500
        faulty.reset()
        srv.server.flush_prediction_log()
        failing = run_monitor(workspace, "faulty-prod")

    log = workspace.logs.read("predictions", partition={"model": "faulty"})
    assert log is not None
    assert Counter(log.column("status").to_pylist()) == {"ok": 19, "rejected": 25, "error": 2}
    assert quiet.check is not None
    assert quiet.check.metric("error_rate") == 0.0
    assert quiet.check.metric("rejected_rate") == pytest.approx(25 / 44)
    assert [c.alert.rule for c in quiet.opened] == []
    assert failing.check is not None
    assert failing.check.metric("error_rate") == pytest.approx(2 / 21)  # of the served requests
    assert [c.alert.rule for c in failing.opened] == ["error_rate > 0.05"]
