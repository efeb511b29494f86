"""``modelyard models`` (the registry) and ``modelyard audit``."""

from __future__ import annotations

from typing import Any

import click

from modelyard.cli.output import (
    fmt_time,
    json_option,
    pass_workspace,
    print_json,
    print_kv,
    print_table,
    reads_workspace,
)


def _client(ws: Any) -> Any:
    from modelyard.registry import RegistryClient

    return RegistryClient(ws)


@click.group()
def models() -> None:
    """Registered models."""


@models.command("list")
@json_option
@reads_workspace
def models_list(ws: Any, as_json: bool) -> None:
    """List registered models with their latest version and stages."""
    items = _client(ws).list_models()
    if as_json:
        print_json([m.to_dict() for m in items])
        return
    print_table(
        "Registered models",
        ("name", "latest", "production", "staging", "aliases", "updated"),
        [
            (
                m.name,
                m.latest_version,
                m.aliases.get("production"),
                m.aliases.get("staging"),
                ", ".join(
                    f"{a}→{v}"
                    for a, v in sorted(m.aliases.items())
                    if a not in ("production", "staging")
                ),
                fmt_time(m.updated_at),
            )
            for m in items
        ],
    )


@models.command("show")
@click.argument("name")
@json_option
@reads_workspace
def models_show(ws: Any, name: str, as_json: bool) -> None:
    """Show a registered model."""
    m = _client(ws).get_model(name)
    if as_json:
        print_json(m.to_dict())
        return
    print_kv(
        f"Model {m.name}",
        [
            ("description", m.description),
            ("latest version", m.latest_version),
            ("aliases", ", ".join(f"{a}→{v}" for a, v in sorted(m.aliases.items()))),
            ("tags", ", ".join(f"{k}={v}" for k, v in sorted(m.tags.items()))),
            ("created", fmt_time(m.created_at)),
            ("updated", fmt_time(m.updated_at)),
        ],
    )


@models.command("versions")
@click.argument("name")
@click.option("--stage", help="Only versions in this stage.")
@json_option
@reads_workspace
def models_versions(ws: Any, name: str, stage: str | None, as_json: bool) -> None:
    """List the versions of a model."""
    items = _client(ws).list_versions(name, stage)
    if as_json:
        print_json([v.to_dict() for v in items])
        return
    metric_keys = sorted({k for v in items for k in v.metrics})[:4]
    print_table(
        f"Versions of {name}",
        ("version", "stage", "aliases", "flavor", "run", "created", "by", *metric_keys),
        [
            (
                v.version,
                v.stage,
                ", ".join(v.aliases),
                v.flavor,
                (v.run_id or "")[:12],
                fmt_time(v.created_at),
                v.created_by,
                *(v.metrics.get(k) for k in metric_keys),
            )
            for v in items
        ],
    )


@models.command("register")
@click.argument("source")
@click.argument("name")
@click.option("--description", default="")
@click.option(
    "--trust-type",
    "trust_types",
    multiple=True,
    help="Approve a type the model declares beyond the safe list (repeatable; review it first).",
)
@json_option
@pass_workspace
def models_register(
    ws: Any, source: str, name: str, description: str, trust_types: tuple[str, ...], as_json: bool
) -> None:
    """Register SOURCE (runs:/RUN_ID/PATH or a model directory) as a new version of NAME."""
    v = _client(ws).register_model(
        source, name, description=description, trusted_types=list(trust_types)
    )
    if as_json:
        print_json(v.to_dict())
        return
    click.echo(f"Registered {v.name} version {v.version} ({v.flavor}) from {source}")


@models.command("promote")
@click.argument("name")
@click.argument("version", type=int)
@click.argument(
    "stage", type=click.Choice(["staging", "production", "archived"], case_sensitive=False)
)
@click.option("-r", "--reason", default="", help="Why (recorded in the history and audit trail).")
@json_option
@pass_workspace
def models_promote(
    ws: Any, name: str, version: int, stage: str, reason: str, as_json: bool
) -> None:
    """Move VERSION of NAME to STAGE; the previous holder is archived."""
    transitions = _client(ws).promote(name, version, stage, reason)
    if as_json:
        print_json([t.to_dict() for t in transitions])
        return
    if not transitions:
        click.echo(f"{name} version {version} is already in {stage}.")
    for t in transitions:
        click.echo(f"{t.name} version {t.version}: {t.from_stage or 'none'} → {t.to_stage}")


@models.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=int, required=False)
@click.option("--delete", is_flag=True, help="Remove the alias.")
@json_option
@pass_workspace
def models_alias(
    ws: Any, name: str, alias: str, version: int | None, delete: bool, as_json: bool
) -> None:
    """Point ALIAS of NAME at VERSION (or --delete it)."""
    client = _client(ws)
    if delete:
        client.delete_alias(name, alias)
        if as_json:
            print_json({"name": name, "alias": alias, "deleted": True})
            return
        click.echo(f"Removed alias {alias!r} of {name}.")
        return
    if version is None:
        raise click.UsageError("VERSION is required unless --delete is given.")
    client.set_alias(name, alias, version)
    if as_json:
        print_json({"name": name, "alias": alias, "version": version})
        return
    click.echo(f"{name}@{alias} → version {version}")


@models.command("history")
@click.argument("name")
@click.option("--stage", help="Only transitions into or out of this stage.")
@click.option("--periods", is_flag=True, help="Show which version held the stage and when.")
@json_option
@reads_workspace
def models_history(ws: Any, name: str, stage: str | None, periods: bool, as_json: bool) -> None:
    """Stage transitions of NAME: who moved what, when, from, to, why."""
    client = _client(ws)
    if periods:
        rows = client.stage_periods(name, stage or "production")
        if as_json:
            print_json(
                [
                    {
                        "version": p.version,
                        "stage": p.stage,
                        "start": p.start,
                        "end": p.end,
                        "promoted_by": p.promoted_by,
                        "reason": p.reason,
                    }
                    for p in rows
                ]
            )
            return
        print_table(
            f"{name}: {stage or 'production'} periods",
            ("version", "from", "until", "by", "reason"),
            [
                (p.version, fmt_time(p.start), fmt_time(p.end) or "now", p.promoted_by, p.reason)
                for p in rows
            ],
        )
        return
    history = client.history(name, stage)
    if as_json:
        print_json([t.to_dict() for t in history])
        return
    print_table(
        f"History of {name}",
        ("when", "version", "from", "to", "by", "reason"),
        [
            (fmt_time(t.timestamp), t.version, t.from_stage or "-", t.to_stage, t.actor, t.reason)
            for t in history
        ],
    )


@click.command("audit")
@click.option("--object-type", help="e.g. model_version, registered_model, webhook")
@click.option("--object-id", help="e.g. fraud/3")
@click.option("-n", "--limit", default=50, show_default=True, type=int)
@json_option
@reads_workspace
def audit(
    ws: Any, object_type: str | None, object_id: str | None, limit: int, as_json: bool
) -> None:
    """Show audit events, newest first."""
    events = ws.metadata.audit.list_events(
        object_type=object_type, object_id=object_id, limit=limit
    )
    if as_json:
        print_json([e.to_dict() for e in events])
        return
    print_table(
        "Audit events",
        ("when", "actor", "action", "object", "details"),
        [
            (
                fmt_time(e.timestamp),
                e.actor,
                e.action,
                f"{e.object_type}:{e.object_id}",
                ", ".join(f"{k}={v}" for k, v in e.details.items()),
            )
            for e in events
        ],
    )
