"""``modelyard monitor``: apply / list / show / run / serve / report / alerts / feedback /
retrain / delete."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import time
from typing import Any

import click

from modelyard.cli.output import (
    console,
    esc,
    fmt_time,
    fmt_value,
    json_option,
    pass_workspace,
    print_json,
    print_kv,
    print_table,
    progress,
    reads_workspace,
)


@click.group()
def monitor() -> None:
    """Monitors: drift, performance, service health, alerts, retraining (docs/monitoring.md)."""


@monitor.command("apply")
@click.argument("path", type=click.Path(dir_okay=False))
@json_option
@pass_workspace
def apply_cmd(ws: Any, path: str, as_json: bool) -> None:
    """Check and store the monitor(s) in PATH; a changed monitor gets a new version."""
    from modelyard.monitoring import apply_monitors

    applied = apply_monitors(ws, path)
    if as_json:
        print_json([a.to_dict() for a in applied])
        return
    print_table(
        "Applied",
        ("monitor", "version", "status"),
        [(a.name, a.version, a.status) for a in applied],
    )


@monitor.command("list")
@json_option
@reads_workspace
def list_cmd(ws: Any, as_json: bool) -> None:
    """List monitors with their latest check and open alerts."""
    from modelyard.monitoring import monitor_statuses

    rows: list[dict[str, Any]] = []
    for status in monitor_statuses(ws):
        m, last = status.monitor, status.last_check
        rows.append(
            {
                "name": m.name,
                "version": m.record.version,
                "model": m.spec.model.uri,
                "window": m.spec.window.describe(),
                "every": m.spec.schedule.every,
                "last_check": last.started_at if last else None,
                "status": last.status if last else "never run",
                "open_alerts": status.open_alerts,
                "retrain": ",".join(m.spec.retrain.on) if m.spec.retrain else "",
            }
        )
    if as_json:
        print_json(rows)
        return
    print_table(
        "Monitors",
        (
            "name",
            "v",
            "model",
            "window",
            "every",
            "last check",
            "status",
            "open alerts",
            "retrain on",
        ),
        [
            (
                r["name"],
                r["version"],
                r["model"],
                r["window"],
                r["every"],
                fmt_time(r["last_check"]),
                r["status"],
                r["open_alerts"],
                r["retrain"],
            )
            for r in rows
        ],
    )


@monitor.command("show")
@click.argument("name")
@click.option("--version", type=int, help="A version of the definition (default: the latest).")
@json_option
@reads_workspace
def show_cmd(ws: Any, name: str, version: int | None, as_json: bool) -> None:
    """Show a monitor: its spec (secrets hidden), recent checks, open alerts, retrains."""
    from modelyard.monitoring import get_monitor, monitor_history, redacted

    m = get_monitor(ws, name, version)
    history = monitor_history(ws, name)
    checks, alerts, retrains = history.checks, history.open_alerts, history.retrains
    spec = redacted(m.record.spec)
    if as_json:
        print_json(
            {
                **m.record.to_dict(),
                "spec": spec,
                "versions": history.versions,
                "checks": [c.to_dict() for c in checks],
                "open_alerts": [a.to_dict() for a in alerts],
                "retrains": [r.to_dict() for r in retrains],
            }
        )
        return
    import yaml

    out = console()
    out.print(
        f"[bold]{esc(name)}[/] v{m.record.version} by {esc(m.record.created_by)}, "
        f"{fmt_time(m.record.created_at)}",
        markup=True,
    )
    out.print(yaml.safe_dump(spec, sort_keys=False).rstrip())
    rules = [(r.rule_name, r.kind, r.severity) for r in m.spec.rules]
    print_table("Rules in force", ("rule", "check", "severity"), rules)
    _print_checks(checks)
    _print_alerts(alerts, "Open alerts")
    if retrains:
        _print_retrains(retrains)


def _print_checks(checks: list[Any]) -> None:
    print_table(
        "Recent checks",
        ("id", "started", "status", "version", "predictions", "labelled", "summary"),
        [
            (
                c.check_id,
                fmt_time(c.started_at),
                c.status,
                c.model_version,
                c.n_predictions,
                c.n_labelled,
                _summary(c),
            )
            for c in checks
        ],
    )


def _summary(check: Any) -> str:
    names = ("accuracy", "roc_auc", "latency_p95_ms", "error_rate", "drift_share")
    parts = [f"{n}={fmt_value(check.metric(n))}" for n in names if check.metric(n) is not None]
    return " ".join(parts)


def _print_alerts(alerts: list[Any], title: str) -> None:
    print_table(
        title,
        ("id", "monitor", "rule", "status", "value", "opened", "last seen", "seen", "resolved"),
        [
            (
                a.alert_id,
                a.monitor,
                a.rule,
                a.status,
                a.value,
                fmt_time(a.opened_at),
                fmt_time(a.last_seen_at),
                a.occurrences,
                fmt_time(a.resolved_at),
            )
            for a in alerts
        ],
    )


def _print_retrains(retrains: list[Any]) -> None:
    print_table(
        "Retrains",
        ("id", "started", "trigger", "status", "champion", "challenger", "run", "reason"),
        [
            (
                r.retrain_id,
                fmt_time(r.started_at),
                r.trigger,
                r.status,
                r.champion_version,
                r.challenger_version,
                r.run_id,
                r.reason,
            )
            for r in retrains
        ],
    )


@monitor.command("run")
@click.argument("name", required=False)
@click.option("--no-retrain", is_flag=True, help="Check only; never start a retrain.")
@click.option("--fail-on-alert", is_flag=True, help="Exit 1 when a check ends alerting.")
@json_option
@pass_workspace
def run_cmd(
    ws: Any, name: str | None, no_retrain: bool, fail_on_alert: bool, as_json: bool
) -> None:
    """Run NAME now, or every monitor that is due (once)."""
    from modelyard.monitoring import list_monitors, run_due, run_monitor

    if name is not None:
        outcomes = [run_monitor(ws, name, retrain=not no_retrain)]
    elif as_json:
        outcomes = run_due(ws, retrain=not no_retrain)
    else:
        total = len(list_monitors(ws))
        with progress("checking due monitors", total=total) as advance:
            outcomes = run_due(ws, retrain=not no_retrain, on_result=lambda _o: advance(1))
            advance(total - len(outcomes))
    if as_json:
        print_json([o.to_dict() for o in outcomes])
    elif not outcomes:
        click.echo("No monitor is due.")
    else:
        _print_outcomes(outcomes)
    if fail_on_alert and any(
        o.check is not None and o.check.status == "alerting" for o in outcomes
    ):
        sys.exit(1)


def _print_outcomes(outcomes: list[Any]) -> None:
    print_table(
        "Checks",
        (
            "monitor",
            "status",
            "predictions",
            "labelled",
            "opened",
            "resolved",
            "retrain",
            "summary",
        ),
        [
            (
                o.monitor,
                o.check.status if o.check else f"failed: {o.error}",
                o.check.n_predictions if o.check else "",
                o.check.n_labelled if o.check else "",
                "\n".join(c.alert.rule for c in o.opened),
                "\n".join(c.alert.rule for c in o.resolved),
                f"{o.retrain.status}: {o.retrain.reason}" if o.retrain else "",
                _summary(o.check) if o.check else "",
            )
            for o in outcomes
        ],
    )


class _JsonLines(logging.Handler):
    """Log records as one JSON object per line on stderr (the scheduler's structured log)."""

    def emit(self, record: logging.LogRecord) -> None:
        _log(record.levelname.lower(), "log", logger=record.name, message=record.getMessage())


def _log(level: str, event: str, **fields: Any) -> None:
    line = {
        "ts": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "level": level,
        "event": event,
        **fields,
    }
    click.echo(json.dumps(line, default=str), err=True)


def _outcome_line(outcome: Any) -> None:
    check = outcome.check
    fields: dict[str, Any] = {"monitor": outcome.monitor}
    if check is None:
        _log("error", "monitor.check.failed", **fields, error=outcome.error)
        return
    fields.update(
        check_id=check.check_id,
        status=check.status,
        model_version=check.model_version,
        predictions=check.n_predictions,
        labelled=check.n_labelled,
        opened=[c.alert.rule for c in outcome.opened],
        resolved=[c.alert.rule for c in outcome.resolved],
    )
    if outcome.retrain is not None:
        fields["retrain"] = {
            "id": outcome.retrain.retrain_id,
            "status": outcome.retrain.status,
            "reason": outcome.retrain.reason,
        }
    _log("warning" if check.status == "alerting" else "info", "monitor.check", **fields)


@monitor.command("serve")
@click.option(
    "--interval",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds between looks for due monitors.",
)
@click.option("--no-retrain", is_flag=True, help="Check only; never start a retrain.")
@pass_workspace
def serve_cmd(ws: Any, interval: float, no_retrain: bool) -> None:
    """Run due monitors on their schedules until Ctrl-C or SIGTERM (JSON log lines on stderr)."""
    from modelyard.errors import ModelyardError
    from modelyard.monitoring import list_monitors, run_due

    handler = _JsonLines()
    logger = logging.getLogger("modelyard")
    logger.addHandler(handler)
    logger.propagate = False
    names = [m.name for m in list_monitors(ws)]
    _log("info", "monitor.serve.start", monitors=names, interval_s=interval)
    try:
        while True:
            try:
                run_due(ws, retrain=not no_retrain, on_result=_outcome_line)
            except ModelyardError as exc:  # e.g. the database is unreachable: try again later
                _log("error", "monitor.serve.error", error=exc.message)
            time.sleep(interval)
    except KeyboardInterrupt:
        _log("info", "monitor.serve.stop")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


@monitor.command("report")
@click.argument("name")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Default: NAME-report.html")
@json_option
@reads_workspace
def report_cmd(ws: Any, name: str, output: str | None, as_json: bool) -> None:
    """Write NAME's HTML report (drift, metrics over time, alerts): one file, opens offline."""
    from modelyard.monitoring import write_monitor_report

    path = write_monitor_report(ws, name, output)
    if as_json:
        print_json({"monitor": name, "report": str(path)})
        return
    click.echo(f"Wrote {path}")


@monitor.command("alerts")
@click.option("--open", "only_open", is_flag=True, help="Only alerts still open.")
@click.option("--monitor", "monitor_name", help="Only this monitor's alerts.")
@click.option("--limit", type=int, default=50, show_default=True)
@json_option
@reads_workspace
def alerts_cmd(
    ws: Any, only_open: bool, monitor_name: str | None, limit: int, as_json: bool
) -> None:
    """List alerts, newest first."""
    from modelyard.monitoring import list_alerts

    alerts = list_alerts(ws, monitor=monitor_name, only_open=only_open, limit=limit)
    if as_json:
        print_json([a.to_dict() for a in alerts])
        return
    _print_alerts(alerts, "Open alerts" if only_open else "Alerts")


@monitor.command("feedback")
@click.argument("path")
@click.option("--model", help="Look the ids up in this model's log only (faster).")
@click.option("--strict", is_flag=True, help="Store nothing if any row is refused or unknown.")
@json_option
@pass_workspace
def feedback_cmd(ws: Any, path: str, model: str | None, strict: bool, as_json: bool) -> None:
    """Store true labels from PATH (csv / parquet / jsonl with prediction_id, label)."""
    from modelyard.monitoring import record_feedback_file

    result = record_feedback_file(ws, path, model=model, strict=strict)
    if as_json:
        print_json(result.to_dict())
        return
    print_kv(
        "Feedback",
        [
            ("received", result.received),
            ("accepted", result.accepted),
            ("unknown prediction ids", result.unknown),
            ("refused", result.refused_count),
            ("duplicates (last one kept)", result.duplicates),
        ],
    )
    if result.unknown_ids:
        shown = ", ".join(result.unknown_ids[:10])
        click.echo(f"unknown ids: {shown}{' ...' if result.unknown > 10 else ''}")
    if result.refused:
        print_table(
            "Refused rows",
            ("row", "prediction_id", "field", "value", "why"),
            [
                (r["row"], r["prediction_id"], r["field"], r["value"], r["message"])
                for r in result.refused[:20]
            ],
        )


@monitor.command("retrain")
@click.argument("name")
@json_option
@pass_workspace
def retrain_cmd(ws: Any, name: str, as_json: bool) -> None:
    """Retrain NAME's model now and promote the challenger if it wins (no cooldown)."""
    from modelyard.monitoring import retrain

    with console(stderr=True).status(f"retraining for monitor {esc(name)} ..."):
        record = retrain(ws, name)
    if as_json:
        print_json(record.to_dict())
        return
    _print_retrains([record])


@monitor.command("delete")
@click.argument("name")
@json_option
@pass_workspace
def delete_cmd(ws: Any, name: str, as_json: bool) -> None:
    """Stop monitor NAME (its history stays; its open alerts are resolved)."""
    from modelyard.monitoring import delete_monitor

    resolved = delete_monitor(ws, name)
    if as_json:
        print_json({"monitor": name, "deleted": True, "alerts_resolved": resolved})
        return
    click.echo(f"Deleted monitor {name!r} ({resolved} open alert(s) resolved).")
