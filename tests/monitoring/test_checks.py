"""Check runs: alerts open with evidence, stay single while they hold, resolve when they clear;
sinks are called on open and resolve only; bad situations give explicit results."""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelyard.monitoring import apply_monitors, record_feedback, run_due, run_monitor
from modelyard.registry import verify_signature
from modelyard.storage import Workspace
from tests.conftest import free_port
from tests.monitoring.helpers import register_classifier, score_and_log, training_data

SECRET = "top-secret"


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"received": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", handler
    server.shutdown()


def _monitor(url: str, out: Path, **extra: Any) -> dict[str, Any]:
    writer = f"import sys; open({str(out)!r}, 'a').write(sys.stdin.read() + chr(10))"
    return {
        "name": "fraud-prod",
        "model": "models:/fraud@production",
        "window": {"last": 1000},
        "checks": {"drift": False, "performance": {"min_labels": 30}},
        "sinks": [
            {"type": "log"},
            {"type": "webhook", "url": url, "secret": SECRET},
            {"type": "command", "command": [sys.executable, "-c", writer]},
        ],
        **extra,
    }


def _label(ws: Workspace, ids: list[str], labels: np.ndarray) -> None:
    rows = [{"prediction_id": i, "label": int(v)} for i, v in zip(ids, labels)]
    assert record_feedback(ws, rows, model="fraud").accepted == len(rows)


def test_alert_lifecycle_with_sinks(workspace: Workspace, tmp_path: Path, receiver: Any) -> None:
    url, handler = receiver
    out = tmp_path / "alerts.jsonl"
    register_classifier(workspace, tmp_path)
    apply_monitors(workspace, _monitor(url, out))
    X, _ = training_data(200, seed=5)
    ids, predicted, _ = score_and_log(workspace, X)
    wrong = np.where(np.arange(len(ids)) % 2 == 0, 1 - predicted, predicted)  # accuracy 0.5
    _label(workspace, ids, wrong)

    first = run_monitor(workspace, "fraud-prod")
    assert first.check is not None and first.check.status == "alerting"
    assert first.check.n_predictions == 200 and first.check.n_labelled == 200
    opened = {c.alert.rule: c.alert for c in first.opened}
    assert "accuracy < 0.85" in opened
    alert = opened["accuracy < 0.85"]
    assert alert.value == pytest.approx(0.5)
    assert alert.evidence["n_labelled"] == 200
    assert alert.evidence["groups"][0]["version"] == 1
    assert first.check.metric("accuracy") == pytest.approx(0.5)
    sent = len(handler.received)
    assert sent == len(first.opened)  # one POST per opened alert
    headers, body = handler.received[0]
    assert headers["X-Modelyard-Event"] == "alert.opened"
    assert verify_signature(
        SECRET, headers["X-Modelyard-Timestamp"], body, headers["X-Modelyard-Signature"]
    )
    payload = json.loads(body)
    assert payload["monitor"] == "fraud-prod" and payload["alert"]["status"] == "open"
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert {x["alert"]["rule"] for x in lines} == set(opened)
    assert all(n.ok for n in first.notifications)

    second = run_monitor(workspace, "fraud-prod")
    assert [c.change for c in second.changes if c.alert.rule == "accuracy < 0.85"] == ["ongoing"]
    assert second.notifications == [] and len(handler.received) == sent  # no repeat
    again = next(c.alert for c in second.changes if c.alert.rule == "accuracy < 0.85")
    assert (again.alert_id, again.occurrences) == (alert.alert_id, 2)

    _label(workspace, ids, predicted)  # corrected labels: accuracy 1.0
    third = run_monitor(workspace, "fraud-prod")
    assert third.check is not None and third.check.status == "ok"
    assert {c.alert.rule for c in third.resolved} == set(opened)
    assert handler.received[-1][0]["X-Modelyard-Event"] == "alert.resolved"
    assert workspace.metadata.monitoring.list_alerts(status="open") == []
    history = workspace.metadata.monitoring.list_checks("fraud-prod")
    assert [c.status for c in history] == ["ok", "alerting", "alerting"]


def test_service_alert_and_a_failing_sink(workspace: Workspace, tmp_path: Path) -> None:
    register_classifier(workspace, tmp_path)
    dead = f"http://127.0.0.1:{free_port()}/nobody"
    spec = _monitor(dead, tmp_path / "x.jsonl", checks={"drift": False, "performance": False})
    spec["sinks"][1]["attempts"] = 1
    spec["sinks"].append({"type": "command", "command": ["/no/such/program"]})
    apply_monitors(workspace, spec)
    X, _ = training_data(50)
    score_and_log(
        workspace, X, latency_ms=np.linspace(10, 400, 50), status=["ok"] * 45 + ["error"] * 5
    )
    outcome = run_monitor(workspace, "fraud-prod")
    rules = {c.alert.rule: c.alert for c in outcome.opened}
    assert set(rules) == {"latency_p95_ms > 100", "error_rate > 0.05"}
    assert rules["error_rate > 0.05"].value == pytest.approx(0.1)
    failures = {(n.sink, n.detail.split(":")[0]) for n in outcome.notifications if not n.ok}
    assert ("webhook", "URLError") in failures
    assert ("command", "command not found") in failures
    stored = workspace.metadata.monitoring.list_notifications(rules["error_rate > 0.05"].alert_id)
    assert any(not n.ok for n in stored) and any(n.ok for n in stored)  # log sink succeeded


def test_empty_window_no_labels_and_no_holder(workspace: Workspace, tmp_path: Path) -> None:
    register_classifier(workspace, tmp_path)
    apply_monitors(workspace, {"name": "m", "model": "fraud", "checks": {"drift": False}})
    empty = run_monitor(workspace, "m")
    assert empty.check is not None and empty.check.status == "not_enough_data"
    assert empty.changes == [] and empty.check.n_predictions == 0
    rules = empty.check.details["rules"]
    assert all(r["breached"] is None for r in rules)
    assert "no predictions in the window" in rules[0]["message"]

    X, _ = training_data(20)
    score_and_log(workspace, X)
    unlabelled = run_monitor(workspace, "m")
    assert unlabelled.check is not None
    perf = unlabelled.check.details["checks"]["performance"]
    assert perf["status"] == "not_enough_data" and "0 labelled predictions" in perf["message"]

    register_classifier(workspace, tmp_path, name="other", stage=None)
    apply_monitors(workspace, {"name": "o", "model": "models:/other@production"})
    orphan = run_monitor(workspace, "o")
    assert orphan.check is not None and orphan.check.status == "error"
    assert "production" in orphan.check.details["checks"]["model"]["message"]


def test_run_due_follows_the_schedule(workspace: Workspace, tmp_path: Path) -> None:
    register_classifier(workspace, tmp_path)
    apply_monitors(
        workspace,
        {"name": "m", "model": "fraud", "schedule": {"every": "10m"}, "checks": {"drift": False}},
    )
    t0 = dt.datetime.now(dt.UTC)
    assert [o.monitor for o in run_due(workspace, now=t0)] == ["m"]
    assert run_due(workspace, now=t0 + dt.timedelta(minutes=5)) == []
    seen: list[str] = []
    later = run_due(
        workspace, now=t0 + dt.timedelta(minutes=10), on_result=lambda o: seen.append(o.monitor)
    )
    assert [o.monitor for o in later] == seen == ["m"]


def test_drift_alert_with_evidence_and_no_profile(workspace: Workspace, tmp_path: Path) -> None:
    register_classifier(workspace, tmp_path)
    register_classifier(workspace, tmp_path, name="bare", profile=False)
    drift = {"numeric": ["ks", "psi"], "min_rows": 30}
    apply_monitors(
        workspace,
        {
            "monitors": [
                {"name": "m", "model": "fraud", "checks": {"drift": drift, "performance": False}},
                {"name": "b", "model": "bare", "checks": {"performance": False}},
            ]
        },
    )
    X, _ = training_data(300, seed=9)
    score_and_log(workspace, X)
    calm = run_monitor(workspace, "m")
    assert calm.check is not None and calm.check.status == "ok", calm.check.details["rules"]
    assert calm.check.drift["n_tested"] == 2

    X.loc[:, "x1"] = X["x1"] + 1.5  # production inputs move
    score_and_log(workspace, X)
    moved = run_monitor(workspace, "m")
    rules = {c.alert.rule: c.alert for c in moved.opened}
    assert {"min_p_value < 0.05", "max_psi > 0.2"} <= set(rules)
    evidence = rules["min_p_value < 0.05"].evidence
    assert [f["feature"] for f in evidence["drifted_features"]] == ["x1"]
    assert moved.check is not None and moved.check.drift["drifted_features"] == ["x1"]
    assert moved.check.metric("drift_share") == pytest.approx(0.5)
    assert moved.check.metric("max_psi") == pytest.approx(
        max(
            c["statistic"]
            for f in moved.check.drift["features"]
            for c in f["checks"]
            if c["method"] == "psi"
        )
    )

    score_and_log(workspace, training_data(50)[0], model="bare")
    bare = run_monitor(workspace, "b")
    assert bare.check is not None
    drift_result = bare.check.details["checks"]["drift"]
    assert (
        drift_result["status"] == "no_profile" and "no reference profile" in drift_result["message"]
    )
    drift_rule = next(r for r in bare.check.details["rules"] if r["metric"] == "min_p_value")
    assert drift_rule["breached"] is None


def test_scheduled_retrain_and_a_failing_pipeline_is_recorded(
    workspace: Workspace, tmp_path: Path
) -> None:
    import yaml

    from tests.pipeline.helpers import spec as pipeline_spec

    register_classifier(workspace, tmp_path)
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump(pipeline_spec()))
    apply_monitors(
        workspace,
        {
            "name": "m",
            "model": "fraud",
            "checks": {"drift": False},
            "retrain": {
                "on": ["schedule"],
                "every": "1d",
                "pipeline": str(pipeline),
                "data": {"source": str(tmp_path / "missing.parquet")},
            },
        },
    )
    t0 = dt.datetime.now(dt.UTC)
    assert run_monitor(workspace, "m", now=t0).retrain is None  # a day has not passed
    record = run_monitor(workspace, "m", now=t0 + dt.timedelta(days=1, minutes=1)).retrain
    assert record is not None and (record.trigger, record.status) == ("schedule", "failed")
    assert "retrain failed" in record.reason and "missing.parquet" in record.reason
    later = t0 + dt.timedelta(days=1, hours=2)
    assert run_monitor(workspace, "m", now=later).retrain is None  # not again within `every`
    events = [e.action for e in workspace.metadata.audit.list_events(object_type="retrain")]
    assert events == ["retrain.finish", "retrain.start"]
