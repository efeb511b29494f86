"""Monitoring records: monitor definitions, check results, alerts, notifications, retrains."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ALERT_OPEN",
    "ALERT_RESOLVED",
    "Alert",
    "AlertChange",
    "AlertNotification",
    "CheckRecord",
    "MonitorRecord",
    "RetrainRecord",
    "RuleObservation",
]

ALERT_OPEN = "open"
ALERT_RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class MonitorRecord:
    """One version of a monitor definition (its validated spec as JSON)."""

    name: str
    version: int
    model: str
    spec: Mapping[str, Any]
    digest: str
    created_at: int
    created_by: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "model": self.model,
            "spec": dict(self.spec),
            "digest": self.digest,
            "created_at": self.created_at,
            "created_by": self.created_by,
        }


@dataclass(frozen=True, slots=True)
class RuleObservation:
    """What one alert rule saw in a check: ``breached`` is None when it could not tell (not
    enough data), which leaves an open alert open and opens nothing."""

    rule: str
    metric: str
    kind: str
    """the check the metric comes from: drift | performance | service"""
    value: float | None
    threshold: float
    op: str
    breached: bool | None
    severity: str = "warning"
    message: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CheckRecord:
    """The stored result of one run of a monitor's checks over one window."""

    check_id: int
    monitor: str
    monitor_version: int
    started_at: int
    finished_at: int
    status: str
    """ok | alerting | not_enough_data | error"""
    model: str
    model_version: int | None
    window_start: int | None
    window_end: int | None
    n_predictions: int
    n_labelled: int
    metrics: Sequence[Mapping[str, Any]] = field(default_factory=list)
    """[{metric, value, version, variant}] (version / variant None: the whole window)"""
    drift: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)

    def metric(self, name: str) -> float | None:
        """The whole-window value of ``name`` in this check, or None."""
        for m in self.metrics:
            if m["metric"] == name and m.get("version") is None and m.get("variant") is None:
                value = m.get("value")
                return None if value is None else float(value)
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "check_id": self.check_id,
            "monitor": self.monitor,
            "monitor_version": self.monitor_version,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "status": self.status,
            "model": self.model,
            "model_version": self.model_version,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "n_predictions": self.n_predictions,
            "n_labelled": self.n_labelled,
            "metrics": [dict(m) for m in self.metrics],
            "drift": dict(self.drift),
            "details": dict(self.details),
        }


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert of one monitor and rule: open while the condition holds (``last_seen_at`` and
    ``occurrences`` follow each check that still sees it), resolved when it clears."""

    alert_id: int
    monitor: str
    rule: str
    metric: str
    kind: str
    status: str
    severity: str
    opened_at: int
    last_seen_at: int
    resolved_at: int | None
    occurrences: int
    value: float | None
    threshold: float
    op: str
    message: str
    evidence: Mapping[str, Any]
    model: str
    model_version: int | None
    open_check_id: int
    last_check_id: int
    resolve_check_id: int | None = None

    @property
    def is_open(self) -> bool:
        return self.status == ALERT_OPEN

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "monitor": self.monitor,
            "rule": self.rule,
            "metric": self.metric,
            "kind": self.kind,
            "status": self.status,
            "severity": self.severity,
            "opened_at": self.opened_at,
            "last_seen_at": self.last_seen_at,
            "resolved_at": self.resolved_at,
            "occurrences": self.occurrences,
            "value": self.value,
            "threshold": self.threshold,
            "op": self.op,
            "message": self.message,
            "evidence": dict(self.evidence),
            "model": self.model,
            "model_version": self.model_version,
            "open_check_id": self.open_check_id,
            "last_check_id": self.last_check_id,
            "resolve_check_id": self.resolve_check_id,
        }


@dataclass(frozen=True, slots=True)
class AlertChange:
    """What a check did to an alert: ``opened``, ``ongoing`` (still holds; no notification) or
    ``resolved``."""

    change: str
    alert: Alert


@dataclass(frozen=True, slots=True)
class AlertNotification:
    """One delivery of an alert event to a sink, successful or not."""

    notification_id: int
    alert_id: int
    event: str
    sink: str
    target: str
    ok: bool
    detail: str
    timestamp: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "notification_id": self.notification_id,
            "alert_id": self.alert_id,
            "event": self.event,
            "sink": self.sink,
            "target": self.target,
            "ok": self.ok,
            "detail": self.detail,
            "timestamp": self.timestamp,
        }


@dataclass(frozen=True, slots=True)
class RetrainRecord:
    """One continuous-training attempt: why it started, what it trained, and the decision."""

    retrain_id: int
    monitor: str
    trigger: str
    """drift | performance | schedule | manual"""
    alert_id: int | None
    status: str
    """running | promoted | not_promoted | failed"""
    started_at: int
    finished_at: int | None
    model: str
    run_id: str | None = None
    champion_version: int | None = None
    challenger_version: int | None = None
    metric: str = ""
    champion_value: float | None = None
    challenger_value: float | None = None
    n_rows: int | None = None
    reason: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "retrain_id": self.retrain_id,
            "monitor": self.monitor,
            "trigger": self.trigger,
            "alert_id": self.alert_id,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "model": self.model,
            "run_id": self.run_id,
            "champion_version": self.champion_version,
            "challenger_version": self.challenger_version,
            "metric": self.metric,
            "champion_value": self.champion_value,
            "challenger_value": self.challenger_value,
            "n_rows": self.n_rows,
            "reason": self.reason,
            "details": dict(self.details),
        }
