"""The HTML report of a monitor: drift of its latest check (reference vs current distributions
per feature), its metrics over time from the stored check results, and its alert history.

    html = monitor_report(workspace, "fraud-production")
    Path("report.html").write_text(html)                # one file, opens offline

The drift section is recomputed on the window of the latest check (the same window definition,
ending when that check ran) against the profile of the version it watched, so the
distributions shown are exactly what that check compared.
"""

from __future__ import annotations

import datetime as dt
import os
from html import escape
from pathlib import Path
from typing import Any

from modelyard.entities.monitoring import CheckRecord
from modelyard.errors import ModelyardError
from modelyard.monitoring.monitors import Monitor, get_monitor
from modelyard.monitoring.report import render_report
from modelyard.monitoring.window import read_window
from modelyard.storage import Workspace

__all__ = ["monitor_report", "write_monitor_report"]

_ALERT_FIELDS = (
    "alert_id",
    "rule",
    "status",
    "severity",
    "opened_at",
    "last_seen_at",
    "resolved_at",
    "occurrences",
    "value",
    "threshold",
    "model_version",
    "message",
)


def monitor_report(workspace: Workspace, name: str, *, checks: int = 500) -> str:
    """One self-contained HTML document for monitor ``name`` (its newest ``checks`` checks)."""
    monitor = get_monitor(workspace, name)
    store = workspace.metadata.monitoring
    history = store.list_checks(name, limit=checks)
    drift, profile, current, note = _latest_drift(workspace, monitor, history)
    alerts = [
        {k: d[k] for k in _ALERT_FIELDS}
        for d in (a.to_dict() for a in store.list_alerts(monitor=name, limit=500))
    ]
    retrains = store.list_retrains(name, limit=100)
    alerts += [
        {
            "alert_id": f"retrain #{r.retrain_id}",
            "rule": f"retrain ({r.trigger})",
            "status": r.status,
            "opened_at": r.started_at,
            "resolved_at": r.finished_at,
            "model_version": r.challenger_version,
            "message": r.reason,
        }
        for r in retrains
    ]
    title = f"{name}: {monitor.spec.model.uri}"
    if history:
        title += f", check #{history[0].check_id} ({monitor.spec.window.describe()})"
    html = render_report(
        title=title,
        drift=drift,
        profile=profile,
        current=current,
        metrics_over_time=_metric_rows(history),
        alerts=sorted(alerts, key=lambda a: a.get("opened_at") or 0, reverse=True),
    )
    if note:  # why there is no drift section: say so at the top
        html = html.replace("</h1>", f"</h1><p class='msg'>drift: {escape(note)}</p>", 1)
    return html


def write_monitor_report(
    workspace: Workspace, name: str, output: str | os.PathLike[str] | None = None
) -> Path:
    """Write the report to ``output`` (default ``<name>-report.html``); returns the path."""
    path = Path(output or f"{name}-report.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(monitor_report(workspace, name), encoding="utf-8")
    return path


def _latest_drift(
    workspace: Workspace, monitor: Monitor, history: list[CheckRecord]
) -> tuple[Any, Any, Any, str]:
    """(DriftReport, Profile, window table, note) of the latest check that watched a version."""
    from modelyard.monitoring.drift_check import detect
    from modelyard.monitoring.store import load_profile

    check = monitor.spec.checks.drift
    latest = next((c for c in history if c.model_version is not None), None)
    if check is None:
        return None, None, None, "the drift check is off for this monitor"
    if latest is None or latest.model_version is None:
        return None, None, None, "no check has run yet (`modelyard monitor run NAME`)"
    model = monitor.spec.model.name
    try:
        profile = load_profile(workspace, model, latest.model_version)
    except ModelyardError as exc:
        return None, None, None, exc.message
    at = dt.datetime.fromtimestamp(latest.started_at / 1000, tz=dt.UTC)
    window = read_window(workspace, model, monitor.spec.window, now=at)
    rows = window.scored_by(latest.model_version)
    if rows is None:
        note = f"the latest check's window held no predictions of v{latest.model_version}"
        return None, profile, None, note
    report = detect(profile, check, rows)
    return report, profile, rows, ""


def _metric_rows(history: list[CheckRecord]) -> list[dict[str, Any]]:
    return [
        {
            "ts": check.started_at,
            "metric": m["metric"],
            "value": m.get("value"),
            "version": m.get("version"),
            "variant": m.get("variant"),
        }
        for check in reversed(history)
        for m in check.metrics
        if m.get("value") is not None
    ]
