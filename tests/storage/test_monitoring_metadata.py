"""The monitoring metadata sub-store on every metadata backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from modelyard.entities import LineageEdge, LineageNode
from modelyard.entities.monitoring import RuleObservation
from modelyard.errors import NotFoundError
from modelyard.storage.metadata import open_metadata_store

SPEC = {"name": "m", "model": {"name": "fraud", "alias": "production"}, "window": {"last": 100}}


def _check(name: str = "m", ts: int = 1000, status: str = "ok") -> dict[str, object]:
    return {
        "monitor": name,
        "monitor_version": 1,
        "started_at": ts,
        "finished_at": ts + 5,
        "status": status,
        "model": "fraud",
        "model_version": 3,
        "window_start": 0,
        "window_end": ts,
        "n_predictions": 10,
        "n_labelled": 5,
        "metrics": [{"metric": "accuracy", "value": float("nan"), "version": None}],
        "drift": {"drift_share": 0.5},
        "details": {},
    }


def _obs(breached: bool | None, value: float = 0.5) -> RuleObservation:
    return RuleObservation(
        "accuracy < 0.85", "accuracy", "performance", value, 0.85, "<", breached, message="low"
    )


def test_definitions_are_versioned_and_audited(metadata_uri: str) -> None:
    store = open_metadata_store(metadata_uri)
    meta = store.monitoring
    first, status = meta.apply_monitor("m", "fraud", SPEC, actor="ann")
    assert (first.version, status) == (1, "created")
    assert meta.apply_monitor("m", "fraud", dict(SPEC), actor="ann")[1] == "unchanged"
    second, status = meta.apply_monitor("m", "fraud", {**SPEC, "window": {"last": 5}}, actor="bob")
    assert (second.version, status, second.created_by) == (2, "updated", "bob")
    assert meta.get_monitor("m").spec["window"] == {"last": 5}
    assert meta.get_monitor("m", 1).spec["window"] == {"last": 100}
    assert [m.name for m in meta.list_monitors()] == ["m"]
    assert [m.name for m in meta.list_monitors(model="other")] == []
    with pytest.raises(NotFoundError, match="did you mean 'm'"):
        meta.get_monitor("mm")
    with pytest.raises(NotFoundError, match="no version 7"):
        meta.get_monitor("m", 7)
    meta.delete_monitor("m", actor="ann")
    assert meta.list_monitors() == []
    with pytest.raises(NotFoundError):
        meta.get_monitor("m")
    assert meta.apply_monitor("m", "fraud", {**SPEC, "window": {"last": 5}}, actor="ann")[1] == (
        "restored"
    )
    actions = [e.action for e in store.audit.list_events(object_type="monitor")]
    assert actions == ["monitor.restore", "monitor.delete", "monitor.update", "monitor.create"]
    store.close()


def test_alerts_open_once_and_resolve(metadata_uri: str) -> None:
    store = open_metadata_store(metadata_uri)
    meta = store.monitoring
    meta.apply_monitor("m", "fraud", SPEC, actor="ann")
    check, changes = meta.record_check(_check(ts=1000, status="alerting"), [_obs(True)], actor="x")
    assert check.metrics[0]["value"] is None  # NaN stored as null
    assert [c.change for c in changes] == ["opened"]
    alert = changes[0].alert
    assert (alert.status, alert.occurrences, alert.open_check_id) == ("open", 1, check.check_id)

    _, changes = meta.record_check(_check(ts=2000), [_obs(True, 0.4)], actor="x")
    assert [c.change for c in changes] == ["ongoing"]
    ongoing = changes[0].alert
    assert ongoing.alert_id == alert.alert_id
    assert (ongoing.occurrences, ongoing.last_seen_at, ongoing.value) == (2, 2005, 0.4)
    assert len(meta.list_alerts(status="open")) == 1

    _, changes = meta.record_check(_check(ts=3000), [_obs(None)], actor="x")
    assert changes == []  # not enough data: the open alert stays open
    third, changes = meta.record_check(_check(ts=4000), [_obs(False, 0.9)], actor="x")
    assert [c.change for c in changes] == ["resolved"]
    assert changes[0].alert.resolve_check_id == third.check_id
    assert meta.list_alerts(status="open") == []
    _, changes = meta.record_check(_check(ts=5000), [_obs(True)], actor="x")
    assert changes[0].change == "opened" and changes[0].alert.alert_id != alert.alert_id
    assert meta.list_checks("m", limit=2)[0].check_id > third.check_id

    meta.record_notification(
        alert.alert_id, "opened", "webhook", "http://x", False, "HTTP 500", actor="x"
    )
    [note] = meta.list_notifications(alert.alert_id)
    assert (note.ok, note.detail) == (False, "HTTP 500")
    upstream = store.audit.get_lineage(LineageNode("alert", str(alert.alert_id)), "upstream")
    assert {e.source for e in upstream} == {
        LineageNode("monitor", "m"),
        LineageNode("prediction_log", "fraud"),
        LineageNode("model_version", "fraud/3"),
    }
    actions = {e.action for e in store.audit.list_events(object_type="alert")}
    assert actions == {"alert.open", "alert.resolve", "alert.notify"}
    store.close()


def test_claims_and_retrain_cooldown(metadata_uri: str) -> None:
    store = open_metadata_store(metadata_uri)
    meta = store.monitoring
    meta.apply_monitor("m", "fraud", SPEC, actor="ann")
    assert meta.claim_check("m", 10_000, 5_000)
    assert not meta.claim_check("m", 12_000, 5_000)
    assert meta.claim_check("m", 15_000, 5_000)
    assert meta.claim_check("m", 15_001, None)  # a forced run
    assert meta.monitor_state("m")["last_check_at"] == 15_001

    started = meta.start_retrain(
        "m",
        trigger="drift",
        alert_id=7,
        model="fraud",
        metric="roc_auc",
        now=100,
        cooldown_ms=1000,
        actor="x",
    )
    assert started is not None and started.status == "running"
    again = meta.start_retrain(
        "m",
        trigger="drift",
        alert_id=7,
        model="fraud",
        metric="roc_auc",
        now=500,
        cooldown_ms=1000,
        actor="x",
    )
    assert again is None
    done = meta.finish_retrain(
        started.retrain_id,
        status="promoted",
        actor="x",
        run_id="r1",
        challenger_version=4,
        challenger_value=0.9,
        champion_value=float("nan"),
        reason="wins",
        edges=[
            LineageEdge(
                LineageNode("run", "r1"), LineageNode("retrain", str(started.retrain_id)), "retrain"
            )
        ],
    )
    assert (done.status, done.challenger_version, done.champion_value) == ("promoted", 4, None)
    assert [r.retrain_id for r in meta.list_retrains("m")] == [started.retrain_id]
    down = store.audit.get_lineage(LineageNode("alert", "7"), "downstream")
    assert [e.target for e in down] == [LineageNode("retrain", str(started.retrain_id))]
    store.close()


def test_concurrent_checks_open_one_alert(metadata_uri: str) -> None:
    store = open_metadata_store(metadata_uri)
    store.monitoring.apply_monitor("m", "fraud", SPEC, actor="ann")
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            for j in range(4):
                store.monitoring.record_check(_check(ts=1000 + i * 10 + j), [_obs(True)], actor="x")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    [alert] = store.monitoring.list_alerts()
    assert alert.occurrences == 16
    store.close()


def test_open_alerts_are_counted_per_monitor_beyond_a_page(metadata_uri: str) -> None:
    store = open_metadata_store(metadata_uri)
    meta = store.monitoring
    for name in ("m", "n"):
        meta.apply_monitor(name, "fraud", {**SPEC, "name": name}, actor="ann")
    rules = [
        RuleObservation(f"r{i} < 1", f"r{i}", "performance", 0.5, 1.0, "<", True, message="low")
        for i in range(101)
    ]
    meta.record_check(_check("m", status="alerting"), rules, actor="x")
    meta.record_check(_check("n", status="alerting"), rules[:2], actor="x")
    meta.record_check(
        _check("n", ts=2000), [dataclasses.replace(rules[0], breached=False)], actor="x"
    )
    assert len(meta.list_alerts(monitor="m", status="open")) == 100  # one page
    assert len(meta.list_alerts(monitor="m", status="open", limit=None)) == 101
    assert meta.count_open_alerts() == {"m": 101, "n": 1}
    store.close()
