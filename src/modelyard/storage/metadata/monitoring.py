"""Monitoring metadata: versioned monitor definitions, check results, alerts (deduplicated while
their condition holds), sink deliveries and continuous-training attempts.

Every mutation writes its audit event in the same transaction. Alert bookkeeping for one check
(open / still open / resolve) is one transaction serialized per monitor (the SQLite write lock;
a transaction-scoped advisory lock on PostgreSQL), so two processes checking the same monitor
never open the same alert twice. Claiming a due check or a retrain is a compare-and-set on
``monitor_state``, so only one of several schedulers runs it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelyard.entities import LineageEdge, LineageNode, now_ms
from modelyard.entities.monitoring import (
    ALERT_OPEN,
    ALERT_RESOLVED,
    Alert,
    AlertChange,
    AlertNotification,
    CheckRecord,
    MonitorRecord,
    RetrainRecord,
    RuleObservation,
)
from modelyard.errors import InvalidArgumentError, NotFoundError, suggest
from modelyard.storage.metadata import schema as t
from modelyard.storage.metadata.database import Database
from modelyard.storage.metadata.features import spec_digest

__all__ = ["MonitoringStore"]


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON: NaN and infinities become null (PostgreSQL's JSON refuses them),
    numpy scalars become Python numbers, anything else unknown becomes its text."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return json_safe(item())
        except (TypeError, ValueError):
            pass
    return json.loads(json.dumps(value, default=str))


def _float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _by_id(conn: Connection, table: sa.Table, row_id: int, what: str) -> Any:
    """The row of ``table`` with id ``row_id``; a NotFoundError naming ``what`` otherwise."""
    row = conn.execute(sa.select(table).where(table.c.id == row_id)).first()
    if row is None:
        raise NotFoundError(f"No {what} with id {row_id}.", **{f"{what}_id": row_id})
    return row


def _monitor(row: Any) -> MonitorRecord:
    return MonitorRecord(
        row.name, row.version, row.model, row.spec, row.digest, row.created_at, row.created_by
    )


def _check(row: Any) -> CheckRecord:
    return CheckRecord(
        row.id,
        row.monitor,
        row.monitor_version,
        row.started_at,
        row.finished_at,
        row.status,
        row.model,
        row.model_version,
        row.window_start,
        row.window_end,
        row.n_predictions,
        row.n_labelled,
        row.metrics or [],
        row.drift or {},
        row.details or {},
    )


def _alert(row: Any) -> Alert:
    return Alert(
        row.id,
        row.monitor,
        row.rule,
        row.metric,
        row.kind,
        row.status,
        row.severity,
        row.opened_at,
        row.last_seen_at,
        row.resolved_at,
        row.occurrences,
        row.value,
        row.threshold,
        row.op,
        row.message,
        row.evidence or {},
        row.model,
        row.model_version,
        row.open_check_id,
        row.last_check_id,
        row.resolve_check_id,
    )


def _retrain(row: Any) -> RetrainRecord:
    return RetrainRecord(
        row.id,
        row.monitor,
        row.trigger,
        row.alert_id,
        row.status,
        row.started_at,
        row.finished_at,
        row.model,
        row.run_id,
        row.champion_version,
        row.challenger_version,
        row.metric,
        row.champion_value,
        row.challenger_value,
        row.n_rows,
        row.reason,
        row.details or {},
    )


class MonitoringStore:
    """Monitors, their checks, alerts, notifications and retrains on the metadata database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- definitions ------------------------------------------------------------------------
    def apply_monitor(
        self, name: str, model: str, spec: Mapping[str, Any], *, actor: str
    ) -> tuple[MonitorRecord, str]:
        """Store a monitor definition: ``created`` (version 1), ``updated`` (a new version),
        ``restored`` (a deleted monitor applied again, unchanged) or ``unchanged``."""
        digest = spec_digest(spec)
        with self.db.write() as conn:
            self.db.xact_lock(conn, f"monitor:{name}")
            latest = self._latest(conn, name)
            state = self._state(conn, name)
            deleted = state is not None and state.deleted_at is not None
            if latest is not None and latest.digest == digest:
                if deleted:
                    self._set_state(conn, name, deleted_at=None)
                    self.db.audit(conn, actor, "monitor.restore", "monitor", name, {})
                    return _monitor(latest), "restored"
                return _monitor(latest), "unchanged"
            version = 1 if latest is None else latest.version + 1
            row = {
                "name": name,
                "version": version,
                "model": model,
                "spec": json_safe(spec),
                "digest": digest,
                "created_at": now_ms(),
                "created_by": actor,
            }
            conn.execute(t.monitors.insert().values(**row))
            if state is None:
                conn.execute(t.monitor_state.insert().values(name=name))
            elif deleted:
                self._set_state(conn, name, deleted_at=None)
            action = "monitor.create" if latest is None else "monitor.update"
            self.db.audit(
                conn, actor, action, "monitor", name, {"version": version, "digest": digest}
            )
        return MonitorRecord(**row), "created" if latest is None else "updated"

    @staticmethod
    def _latest(conn: Connection, name: str) -> Any:
        c = t.monitors.c
        return conn.execute(
            sa.select(t.monitors).where(c.name == name).order_by(c.version.desc()).limit(1)
        ).first()

    @staticmethod
    def _state(conn: Connection, name: str) -> Any:
        return conn.execute(
            sa.select(t.monitor_state).where(t.monitor_state.c.name == name)
        ).first()

    @staticmethod
    def _set_state(conn: Connection, name: str, **values: Any) -> int:
        result = conn.execute(
            t.monitor_state.update().where(t.monitor_state.c.name == name).values(**values)
        )
        return int(result.rowcount or 0)

    def get_monitor(self, name: str, version: int | None = None) -> MonitorRecord:
        """A monitor's definition (the latest version when ``version`` is None)."""
        c = t.monitors.c
        with self.db.read() as conn:
            state = self._state(conn, name)
            if state is not None and state.deleted_at is None:
                if version is None:
                    row = self._latest(conn, name)
                else:
                    row = conn.execute(
                        sa.select(t.monitors).where(c.name == name, c.version == version)
                    ).first()
                if row is not None:
                    return _monitor(row)
                versions = [r[0] for r in conn.execute(sa.select(c.version).where(c.name == name))]
                raise NotFoundError(
                    f"The monitor {name!r} has no version {version}; versions: "
                    f"{', '.join(map(str, sorted(versions)))}.",
                    monitor=name,
                    version=version,
                )
        names = [m.name for m in self.list_monitors()]
        raise NotFoundError(
            f"No monitor named {name!r}{suggest(name, names)}. Known: "
            f"{', '.join(names) or 'none'} (define one with `modelyard monitor apply FILE`).",
            monitor=name,
        )

    def list_monitors(self, model: str | None = None) -> list[MonitorRecord]:
        """The latest version of every monitor that is not deleted, by name."""
        c = t.monitors.c
        latest = (
            sa.select(c.name, sa.func.max(c.version).label("version")).group_by(c.name).subquery()
        )
        query = (
            sa.select(t.monitors)
            .join(latest, sa.and_(c.name == latest.c.name, c.version == latest.c.version))
            .join(t.monitor_state, t.monitor_state.c.name == c.name)
            .where(t.monitor_state.c.deleted_at.is_(None))
        )
        if model is not None:
            query = query.where(c.model == model)
        with self.db.read() as conn:
            return [_monitor(r) for r in conn.execute(query.order_by(c.name))]

    def list_monitor_versions(self, name: str) -> list[MonitorRecord]:
        c = t.monitors.c
        with self.db.read() as conn:
            rows = conn.execute(sa.select(t.monitors).where(c.name == name).order_by(c.version))
            return [_monitor(r) for r in rows]

    def delete_monitor(self, name: str, *, actor: str) -> int:
        """Stop a monitor (its definitions, checks and alerts stay readable); its open alerts are
        resolved. Returns how many alerts were resolved."""
        self.get_monitor(name)
        ts = now_ms()
        with self.db.write() as conn:
            self._set_state(conn, name, deleted_at=ts)
            a = t.monitor_alerts.c
            resolved = conn.execute(
                t.monitor_alerts.update()
                .where(a.monitor == name, a.status == ALERT_OPEN)
                .values(status=ALERT_RESOLVED, resolved_at=ts)
            ).rowcount
            self.db.audit(
                conn, actor, "monitor.delete", "monitor", name, {"resolved_alerts": resolved}
            )
        return int(resolved or 0)

    def monitor_state(self, name: str) -> dict[str, int | None]:
        """``last_check_at`` and ``last_retrain_at`` (ms) of a monitor."""
        with self.db.read() as conn:
            row = self._state(conn, name)
        if row is None:
            return {"last_check_at": None, "last_retrain_at": None}
        return {"last_check_at": row.last_check_at, "last_retrain_at": row.last_retrain_at}

    # -- scheduling -------------------------------------------------------------------------
    def claim_check(self, name: str, now: int, every_ms: int | None) -> bool:
        """Mark a check of ``name`` as started at ``now`` if it is due (no check in the last
        ``every_ms``; always when ``every_ms`` is None). False when another process claimed it."""
        s = t.monitor_state.c
        with self.db.write() as conn:
            query = t.monitor_state.update().where(s.name == name, s.deleted_at.is_(None))
            if every_ms is not None:
                query = query.where(
                    sa.or_(s.last_check_at.is_(None), s.last_check_at <= now - every_ms)
                )
            return bool(conn.execute(query.values(last_check_at=now)).rowcount)

    # -- checks and alerts ------------------------------------------------------------------
    def record_check(
        self,
        check: Mapping[str, Any],
        observations: Sequence[RuleObservation],
        *,
        actor: str,
    ) -> tuple[CheckRecord, list[AlertChange]]:
        """Store one check result and apply its rule observations to the monitor's alerts, in one
        transaction: a breached rule opens an alert (or, when one is open, updates its
        ``last_seen_at``), a clear rule resolves the open one, an unknown rule changes nothing."""
        monitor = str(check["monitor"])
        row = {
            key: json_safe(check.get(key, default))
            for key, default in (
                ("monitor", None),
                ("monitor_version", None),
                ("started_at", None),
                ("finished_at", None),
                ("status", None),
                ("model", None),
                ("model_version", None),
                ("window_start", None),
                ("window_end", None),
                ("n_predictions", 0),
                ("n_labelled", 0),
                ("metrics", []),
                ("drift", {}),
                ("details", {}),
            )
        }
        with self.db.write() as conn:
            self.db.xact_lock(conn, f"monitor:{monitor}")
            check_id = int(
                conn.execute(
                    t.monitor_checks.insert().values(**row).returning(t.monitor_checks.c.id)
                ).scalar_one()
            )
            stored = _check(_by_id(conn, t.monitor_checks, check_id, "check"))
            self.db.audit(
                conn,
                actor,
                "monitor.check",
                "monitor",
                monitor,
                {"check_id": check_id, "status": stored.status},
            )
            changes = [
                change
                for obs in observations
                if (change := self._apply_observation(conn, stored, obs, actor)) is not None
            ]
        return stored, changes

    def _apply_observation(
        self, conn: Connection, check: CheckRecord, obs: RuleObservation, actor: str
    ) -> AlertChange | None:
        if obs.breached is None:
            return None
        a = t.monitor_alerts.c
        current = conn.execute(
            sa.select(t.monitor_alerts)
            .where(a.monitor == check.monitor, a.rule == obs.rule, a.status == ALERT_OPEN)
            .order_by(a.id.desc())
            .limit(1)
        ).first()
        ts = check.finished_at
        if obs.breached and current is not None:
            conn.execute(
                t.monitor_alerts.update()
                .where(a.id == current.id)
                .values(
                    last_seen_at=ts,
                    occurrences=current.occurrences + 1,
                    value=_float(obs.value),
                    last_check_id=check.check_id,
                    evidence=json_safe(obs.evidence),
                    message=obs.message[:2000],
                )
            )
            return AlertChange("ongoing", self._get_alert(conn, current.id))
        if obs.breached:
            return AlertChange("opened", self._open(conn, check, obs, actor))
        if current is None:
            return None
        conn.execute(
            t.monitor_alerts.update()
            .where(a.id == current.id)
            .values(status=ALERT_RESOLVED, resolved_at=ts, resolve_check_id=check.check_id)
        )
        self.db.audit(
            conn,
            actor,
            "alert.resolve",
            "alert",
            str(current.id),
            {"monitor": check.monitor, "rule": obs.rule, "value": _float(obs.value)},
        )
        return AlertChange("resolved", self._get_alert(conn, current.id))

    def _open(
        self, conn: Connection, check: CheckRecord, obs: RuleObservation, actor: str
    ) -> Alert:
        ts = check.finished_at
        alert_id = int(
            conn.execute(
                t.monitor_alerts.insert()
                .values(
                    monitor=check.monitor,
                    rule=obs.rule[:256],
                    metric=obs.metric,
                    kind=obs.kind,
                    status=ALERT_OPEN,
                    severity=obs.severity,
                    opened_at=ts,
                    last_seen_at=ts,
                    occurrences=1,
                    value=_float(obs.value),
                    threshold=obs.threshold,
                    op=obs.op,
                    message=obs.message[:2000],
                    evidence=json_safe(obs.evidence),
                    model=check.model,
                    model_version=check.model_version,
                    open_check_id=check.check_id,
                    last_check_id=check.check_id,
                )
                .returning(t.monitor_alerts.c.id)
            ).scalar_one()
        )
        node = LineageNode("alert", str(alert_id))
        self.db.add_edge(conn, LineageNode("monitor", check.monitor), node, "raised")
        self.db.add_edge(conn, LineageNode("prediction_log", check.model), node, "evidence")
        if check.model_version is not None:
            source = LineageNode("model_version", f"{check.model}/{check.model_version}")
            self.db.add_edge(conn, source, node, "monitored")
        self.db.audit(
            conn,
            actor,
            "alert.open",
            "alert",
            str(alert_id),
            {"monitor": check.monitor, "rule": obs.rule, "value": _float(obs.value)},
        )
        return self._get_alert(conn, alert_id)

    @staticmethod
    def _get_alert(conn: Connection, alert_id: int) -> Alert:
        return _alert(_by_id(conn, t.monitor_alerts, alert_id, "alert"))

    def get_alert(self, alert_id: int) -> Alert:
        with self.db.read() as conn:
            return self._get_alert(conn, alert_id)

    def list_alerts(
        self,
        *,
        monitor: str | None = None,
        status: str | None = None,
        limit: int | None = 100,
    ) -> list[Alert]:
        """Alerts, newest first (``status``: open or resolved)."""
        if status not in (None, ALERT_OPEN, ALERT_RESOLVED):
            raise InvalidArgumentError(
                f"Unknown alert status {status!r}; use {ALERT_OPEN!r} or {ALERT_RESOLVED!r}.",
                field="status",
                value=status,
            )
        a = t.monitor_alerts.c
        query = sa.select(t.monitor_alerts)
        if monitor is not None:
            query = query.where(a.monitor == monitor)
        if status is not None:
            query = query.where(a.status == status)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(a.id.desc()).limit(limit))
            return [_alert(r) for r in rows]

    def count_open_alerts(self) -> dict[str, int]:
        """Open alerts per monitor (monitors with none are absent)."""
        a = t.monitor_alerts.c
        query = (
            sa.select(a.monitor, sa.func.count()).where(a.status == ALERT_OPEN).group_by(a.monitor)
        )
        with self.db.read() as conn:
            return {str(name): int(n) for name, n in conn.execute(query)}

    def get_check(self, check_id: int) -> CheckRecord:
        with self.db.read() as conn:
            return _check(_by_id(conn, t.monitor_checks, check_id, "check"))

    def list_checks(
        self, monitor: str, *, limit: int = 100, since: int | None = None
    ) -> list[CheckRecord]:
        """Check results of a monitor, newest first."""
        c = t.monitor_checks.c
        query = sa.select(t.monitor_checks).where(c.monitor == monitor)
        if since is not None:
            query = query.where(c.started_at >= since)
        with self.db.read() as conn:
            return [_check(r) for r in conn.execute(query.order_by(c.id.desc()).limit(limit))]

    # -- notifications ----------------------------------------------------------------------
    def record_notification(
        self,
        alert_id: int,
        event: str,
        sink: str,
        target: str,
        ok: bool,
        detail: str,
        *,
        actor: str,
    ) -> AlertNotification:
        ts = now_ms()
        with self.db.write() as conn:
            notification_id = int(
                conn.execute(
                    t.alert_notifications.insert()
                    .values(
                        alert_id=alert_id,
                        event=event,
                        sink=sink,
                        target=target[:2048],
                        ok=ok,
                        detail=detail[:2000],
                        timestamp=ts,
                    )
                    .returning(t.alert_notifications.c.id)
                ).scalar_one()
            )
            self.db.audit(
                conn,
                actor,
                "alert.notify",
                "alert",
                str(alert_id),
                {"event": event, "sink": sink, "target": target, "ok": ok, "detail": detail},
            )
        return AlertNotification(
            notification_id, alert_id, event, sink, target[:2048], ok, detail[:2000], ts
        )

    def list_notifications(self, alert_id: int) -> list[AlertNotification]:
        n = t.alert_notifications.c
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(t.alert_notifications).where(n.alert_id == alert_id).order_by(n.id)
            )
            return [
                AlertNotification(
                    r.id, r.alert_id, r.event, r.sink, r.target, r.ok, r.detail, r.timestamp
                )
                for r in rows
            ]

    # -- continuous training ----------------------------------------------------------------
    def start_retrain(
        self,
        monitor: str,
        *,
        trigger: str,
        alert_id: int | None,
        model: str,
        metric: str,
        now: int,
        cooldown_ms: int,
        actor: str,
    ) -> RetrainRecord | None:
        """Record a retrain as running, unless one started within ``cooldown_ms`` (None then)."""
        s = t.monitor_state.c
        with self.db.write() as conn:
            claimed = conn.execute(
                t.monitor_state.update()
                .where(
                    s.name == monitor,
                    sa.or_(s.last_retrain_at.is_(None), s.last_retrain_at <= now - cooldown_ms),
                )
                .values(last_retrain_at=now)
            ).rowcount
            if not claimed:
                return None
            retrain_id = int(
                conn.execute(
                    t.monitor_retrains.insert()
                    .values(
                        monitor=monitor,
                        trigger=trigger,
                        alert_id=alert_id,
                        status="running",
                        started_at=now,
                        model=model,
                        metric=metric,
                        reason="",
                        details={},
                    )
                    .returning(t.monitor_retrains.c.id)
                ).scalar_one()
            )
            if alert_id is not None:
                self.db.add_edge(
                    conn,
                    LineageNode("alert", str(alert_id)),
                    LineageNode("retrain", str(retrain_id)),
                    "triggered",
                )
            self.db.audit(
                conn,
                actor,
                "retrain.start",
                "retrain",
                str(retrain_id),
                {"monitor": monitor, "trigger": trigger, "alert_id": alert_id},
            )
            return self._get_retrain(conn, retrain_id)

    def finish_retrain(
        self,
        retrain_id: int,
        *,
        status: str,
        actor: str,
        edges: Sequence[LineageEdge] = (),
        **values: Any,
    ) -> RetrainRecord:
        """Record the outcome (promoted / not_promoted / failed) with its lineage edges."""
        allowed = {
            "run_id",
            "champion_version",
            "challenger_version",
            "champion_value",
            "challenger_value",
            "n_rows",
            "reason",
            "details",
        }
        unknown = set(values) - allowed
        if unknown:
            raise InvalidArgumentError(f"Unknown retrain fields: {', '.join(sorted(unknown))}.")
        clean = {k: json_safe(v) for k, v in values.items()}
        if "reason" in clean:
            clean["reason"] = str(clean["reason"])[:5000]
        with self.db.write() as conn:
            conn.execute(
                t.monitor_retrains.update()
                .where(t.monitor_retrains.c.id == retrain_id)
                .values(status=status, finished_at=now_ms(), **clean)
            )
            for edge in edges:
                self.db.add_edge(conn, edge.source, edge.target, edge.relation, edge.details)
            self.db.audit(
                conn,
                actor,
                "retrain.finish",
                "retrain",
                str(retrain_id),
                {"status": status, "reason": clean.get("reason", "")},
            )
            return self._get_retrain(conn, retrain_id)

    @staticmethod
    def _get_retrain(conn: Connection, retrain_id: int) -> RetrainRecord:
        return _retrain(_by_id(conn, t.monitor_retrains, retrain_id, "retrain"))

    def get_retrain(self, retrain_id: int) -> RetrainRecord:
        with self.db.read() as conn:
            return self._get_retrain(conn, retrain_id)

    def list_retrains(self, monitor: str | None = None, limit: int = 100) -> list[RetrainRecord]:
        """Retrain attempts, newest first."""
        r = t.monitor_retrains.c
        query = sa.select(t.monitor_retrains)
        if monitor is not None:
            query = query.where(r.monitor == monitor)
        with self.db.read() as conn:
            return [_retrain(x) for x in conn.execute(query.order_by(r.id.desc()).limit(limit))]
