"""Running a monitor: read its window, run its checks, store the result, open / update / resolve
alerts, notify the sinks, and start a retrain when its policy says so.

    outcome = run_monitor(workspace, "fraud-production")      # now, whether due or not
    outcomes = run_due(workspace)                              # every monitor whose time has come

Nothing in a check run raises for bad or missing data: a window with no predictions, too few
labels, a version without a reference profile, an alias nobody holds - each becomes an explicit
status in the stored result ("not_enough_data", "no_profile", "error" with its message), and a
rule that cannot be evaluated leaves its alert as it was.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelyard.entities.monitoring import (
    AlertChange,
    AlertNotification,
    CheckRecord,
    RetrainRecord,
    RuleObservation,
)
from modelyard.errors import ModelyardError
from modelyard.monitoring.drift_check import check_drift
from modelyard.monitoring.monitors import Monitor, get_monitor, list_monitors
from modelyard.monitoring.performance import PerformanceResult, performance, service_health
from modelyard.monitoring.retrain import maybe_retrain
from modelyard.monitoring.rules import observe
from modelyard.monitoring.sinks import alert_payload, deliver, wants
from modelyard.monitoring.window import (
    Window,
    labelled,
    now_utc,
    read_feedback,
    read_shadow,
    read_window,
)
from modelyard.storage import Workspace

__all__ = ["CheckOutcome", "run_due", "run_monitor"]

log = logging.getLogger("modelyard.monitoring")

_PERF_COLUMNS = ["prediction_id", "ts", "version", "variant", "prediction", "proba"]


@dataclass
class CheckOutcome:
    """One run of one monitor: the stored check, what happened to alerts, the notifications
    sent, and the retrain it started (if any). ``error``: the run itself failed."""

    monitor: str
    check: CheckRecord | None = None
    changes: list[AlertChange] = field(default_factory=list)
    notifications: list[AlertNotification] = field(default_factory=list)
    retrain: RetrainRecord | None = None
    error: str = ""

    @property
    def opened(self) -> list[AlertChange]:
        return [c for c in self.changes if c.change == "opened"]

    @property
    def resolved(self) -> list[AlertChange]:
        return [c for c in self.changes if c.change == "resolved"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "check": self.check.to_dict() if self.check else None,
            "alerts": [{"change": c.change, **c.alert.to_dict()} for c in self.changes],
            "notifications": [n.to_dict() for n in self.notifications],
            "retrain": self.retrain.to_dict() if self.retrain else None,
            "error": self.error,
        }


def _ms(value: dt.datetime) -> int:
    return int(value.timestamp() * 1000)


def run_monitor(
    workspace: Workspace,
    name: str,
    *,
    now: dt.datetime | None = None,
    retrain: bool = True,
) -> CheckOutcome:
    """Run ``name``'s checks now, due or not. ``retrain=False``: never start a retrain."""
    monitor = get_monitor(workspace, name)
    moment = now_utc(now)
    workspace.metadata.monitoring.claim_check(name, _ms(moment), None)
    return _run(workspace, monitor, moment, retrain=retrain)


def run_due(
    workspace: Workspace,
    *,
    now: dt.datetime | None = None,
    retrain: bool = True,
    on_result: Callable[[CheckOutcome], None] | None = None,
) -> list[CheckOutcome]:
    """Run every monitor whose schedule says it is due (claimed first, so several schedulers
    never run the same check twice). One monitor failing does not stop the others."""
    moment = now_utc(now)
    store = workspace.metadata.monitoring
    outcomes = []
    for monitor in list_monitors(workspace):
        if not store.claim_check(monitor.name, _ms(moment), monitor.spec.schedule.every_ms):
            continue
        try:
            outcome = _run(workspace, monitor, moment, retrain=retrain)
        except Exception as exc:  # one broken monitor must not stop the scheduler
            log.exception("monitor %s failed", monitor.name)
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            outcome = CheckOutcome(monitor.name, error=str(message))
        outcomes.append(outcome)
        if on_result is not None:
            on_result(outcome)
    return outcomes


class _Collector:
    """Values, evidence and reasons gathered from the checks of one run."""

    def __init__(self) -> None:
        self.values: dict[str, float | None] = {}
        self.rows: list[dict[str, Any]] = []
        self.evidence: dict[str, dict[str, Any]] = {}
        self.reasons: dict[str, str] = {}
        self.details: dict[str, Any] = {}

    def guard(self, kind: str, fn: Callable[..., None], *args: Any) -> None:
        """Run one check; a failure is recorded as that check's result, not raised."""
        try:
            fn(self, *args)
        except ModelyardError as exc:
            self.fail(kind, exc.message)
        except Exception as exc:
            log.exception("the %s check failed", kind)
            self.fail(kind, f"{type(exc).__name__}: {exc}")

    def fail(self, kind: str, message: str) -> None:
        self.reasons[kind] = message
        self.details[kind] = {"status": "error", "message": message}


def _run(
    workspace: Workspace, monitor: Monitor, now: dt.datetime, *, retrain: bool
) -> CheckOutcome:
    from modelyard.registry import RegistryClient

    spec = monitor.spec
    started, clock = _ms(now), time.perf_counter()
    found = _Collector()
    version: int | None = None
    try:
        version = RegistryClient(workspace).resolve(spec.model.uri).version
    except ModelyardError as exc:
        for kind in ("drift", "performance", "service"):
            found.reasons[kind] = exc.message
        found.details["model"] = {"status": "error", "message": exc.message}
    window = read_window(workspace, spec.model.name, spec.window, now=now)
    checks = spec.checks
    if checks.service is not None:
        found.guard("service", _service, window, checks.service.min_rows)
    if checks.performance is not None:
        found.guard("performance", _performance, workspace, window, monitor)
    if checks.drift is not None and version is not None:
        found.guard("drift", _drift, workspace, window, monitor, version)
    observations = observe(spec.rules, found.values, found.evidence, found.reasons)
    check = {
        "monitor": monitor.name,
        "monitor_version": monitor.record.version,
        "started_at": started,
        "finished_at": started + int((time.perf_counter() - clock) * 1000),
        "status": _status(version, window, observations),
        "model": spec.model.name,
        "model_version": version,
        "window_start": window.start,
        "window_end": window.end,
        "n_predictions": window.rows,
        "n_labelled": int(found.details.get("performance", {}).get("n_labelled", 0) or 0),
        "metrics": found.rows,
        "drift": found.details.pop("drift_report", {}),
        "details": {
            "window": spec.window.describe(),
            "model_uri": spec.model.uri,
            "checks": found.details,
            "rules": [_rule_dict(o) for o in observations],
        },
    }
    record, changes = workspace.metadata.monitoring.record_check(
        check, observations, actor=workspace.user
    )
    outcome = CheckOutcome(monitor.name, record, changes)
    outcome.notifications = _notify(workspace, monitor, record, changes)
    if retrain and spec.retrain is not None:
        outcome.retrain = maybe_retrain(workspace, monitor, window, changes, now)
    return outcome


def _status(version: int | None, window: Window, observations: list[RuleObservation]) -> str:
    if version is None:
        return "error"
    if any(o.breached for o in observations):
        return "alerting"
    if window.rows == 0 or (observations and all(o.breached is None for o in observations)):
        return "not_enough_data"
    return "ok"


def _rule_dict(obs: RuleObservation) -> dict[str, Any]:
    return {
        "rule": obs.rule,
        "metric": obs.metric,
        "value": obs.value,
        "breached": obs.breached,
        "message": obs.message,
    }


def _service(found: _Collector, window: Window, min_rows: int) -> None:
    result = service_health(window.table, min_rows=min_rows)
    found.values.update(result.metrics)
    found.rows += result.rows()
    found.details["service"] = result.to_dict()
    found.evidence["service"] = {"n": result.n, **result.metrics, "groups": result.groups}
    if result.message:
        found.reasons["service"] = result.message


def _performance(found: _Collector, workspace: Workspace, window: Window, monitor: Monitor) -> None:
    check = monitor.spec.checks.performance
    assert check is not None
    shadow = None
    if window.table is None:
        rows = None
    else:
        feedback = read_feedback(workspace, start=window.start)
        rows = labelled(window.table, feedback, columns=_PERF_COLUMNS)
        shadowed = read_shadow(workspace, window, columns=_PERF_COLUMNS)
        if shadowed is not None:
            shadow = labelled(shadowed, feedback, columns=_PERF_COLUMNS)
    if rows is None:
        result = PerformanceResult(
            "not_enough_data",
            0,
            dict.fromkeys(check.metrics),
            message=f"no predictions in the window; {check.min_labels} labelled ones needed",
        )
    else:
        result = performance(rows, check.metrics, min_labels=check.min_labels, shadow=shadow)
    found.values.update(result.metrics)
    found.rows += result.rows()
    found.details["performance"] = result.to_dict()
    found.evidence["performance"] = {
        "n_labelled": result.n_labelled,
        "metrics": result.metrics,
        "groups": result.groups,
        "window": monitor.spec.window.describe(),
    }
    if result.message:
        found.reasons["performance"] = result.message


def _drift(
    found: _Collector, workspace: Workspace, window: Window, monitor: Monitor, version: int
) -> None:
    check = monitor.spec.checks.drift
    assert check is not None
    result = check_drift(workspace, check, window, monitor.spec.model.name, version)
    found.values.update(result.values)
    n = result.report.get("n_current", 0)  # the rows the watched version answered
    found.rows += [
        {"metric": k, "value": v, "version": None, "variant": None, "n": n}
        for k, v in result.values.items()
    ]
    found.details["drift"] = {"status": result.status, "message": result.message}
    found.details["drift_report"] = result.report
    found.evidence["drift"] = result.evidence()
    if result.message:
        found.reasons["drift"] = result.message


def _notify(
    workspace: Workspace, monitor: Monitor, check: CheckRecord, changes: list[AlertChange]
) -> list[AlertNotification]:
    """Send opened / resolved alerts to the sinks; an ongoing alert is not sent again."""
    store = workspace.metadata.monitoring
    sent = []
    for change in changes:
        if change.change not in ("opened", "resolved"):
            continue
        payload = alert_payload(
            change.change,
            change.alert,
            {
                "monitor": monitor.name,
                "model_uri": monitor.spec.model.uri,
                "check_id": check.check_id,
            },
        )
        for sink in monitor.spec.sinks:
            if not wants(sink, change.change, change.alert.severity):
                continue
            ok, detail, target = deliver(sink, payload)
            sent.append(
                store.record_notification(
                    change.alert.alert_id,
                    change.change,
                    sink.type,
                    target,
                    ok,
                    detail,
                    actor=workspace.user,
                )
            )
    return sent
