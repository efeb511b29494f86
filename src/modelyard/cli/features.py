"""``modelyard features``: apply / list / show / materialize / materialize-incremental / get /
stream / serve / check-parity."""

from __future__ import annotations

import sys
from typing import Any

import click

from modelyard.cli.output import (
    console,
    fmt_time,
    json_option,
    pass_workspace,
    print_json,
    print_kv,
    print_table,
    progress,
    reads_workspace,
)

_KINDS = {"entity": "entity", "view": "feature_view", "service": "feature_service"}


def _store(ws: Any) -> Any:
    from modelyard.features import FeatureStore

    return FeatureStore(ws)


@click.group()
@click.option("--offline-uri", help="Offline store URI (MODELYARD_OFFLINE_URI).")
@click.option("--online-uri", help="Online store URI (MODELYARD_ONLINE_URI).")
@click.pass_context
def features(ctx: click.Context, offline_uri: str | None, online_uri: str | None) -> None:
    """Feature store: definitions, training sets, materialization, online reads, streaming."""
    root = ctx.find_root()
    root.obj = {**(root.obj or {}), "offline_uri": offline_uri, "online_uri": online_uri}


@features.command("apply")
@click.argument("path", type=click.Path())
@click.option("--no-validate", is_flag=True, help="Do not check that sources exist.")
@json_option
@pass_workspace
def apply_cmd(ws: Any, path: str, no_validate: bool, as_json: bool) -> None:
    """Register the definitions in PATH (.py / .yaml file or directory); changes get new versions."""
    applied = _store(ws).apply(path, validate_sources=not no_validate)
    if as_json:
        print_json([_asdict(a) for a in applied])
        return
    print_table("Applied", ("kind", "name", "version", "status"), [_astuple(a) for a in applied])


def _asdict(a: Any) -> dict[str, Any]:
    return {"kind": a.kind, "name": a.name, "version": a.version, "status": a.status}


def _astuple(a: Any) -> tuple[Any, ...]:
    return (a.kind, a.name, a.version, a.status)


@features.command("list")
@click.option("--kind", type=click.Choice(list(_KINDS)), help="Only this kind.")
@json_option
@reads_workspace
def list_cmd(ws: Any, kind: str | None, as_json: bool) -> None:
    """List the registered entities, feature views and services (latest versions)."""
    records = _store(ws).list_definitions(_KINDS[kind] if kind else None)
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    print_table(
        "Feature definitions",
        ("kind", "name", "version", "summary", "updated", "by"),
        [
            (r.kind, r.name, r.version, _summary(r), fmt_time(r.created_at), r.created_by)
            for r in records
        ],
    )


def _summary(record: Any) -> str:
    spec = record.spec
    if record.kind == "entity":
        return "keys: " + ", ".join(spec["join_keys"])
    if record.kind == "feature_service":
        return ", ".join(spec["features"])
    names = [f["name"] for f in spec["features"]] or [
        f"{a['function']}({a['column'] or '*'}, {a['window']})" for a in spec["aggregations"]
    ]
    ttl = f" ttl {spec['ttl']}" if spec.get("ttl") else ""
    return (
        f"{len(names)} features{ttl}: " + ", ".join(names[:6]) + (" ..." if len(names) > 6 else "")
    )


@features.command("show")
@click.argument("name")
@click.option("--kind", type=click.Choice(list(_KINDS)), default="view", show_default=True)
@click.option("--version", type=int, help="A version (default: the latest).")
@json_option
@reads_workspace
def show_cmd(ws: Any, name: str, kind: str, version: int | None, as_json: bool) -> None:
    """Show a definition, its versions and (for views) its materializations."""
    store = _store(ws)
    record = store.get_definition(_KINDS[kind], name, version)
    versions = store.list_versions(_KINDS[kind], name)
    runs = store.list_materializations(name, limit=5) if kind == "view" else []
    if as_json:
        print_json(
            {
                **record.to_dict(),
                "versions": [v.version for v in versions],
                "materializations": [_mat(m) for m in runs],
            }
        )
        return
    import yaml

    print_kv(
        f"{record.kind} {record.name} (version {record.version} of {len(versions)})",
        [
            ("created", f"{fmt_time(record.created_at)} by {record.created_by}"),
            ("digest", record.digest[:16]),
            *[(f"materialized {i + 1}", _mat_line(m)) for i, m in enumerate(runs)],
        ],
    )
    console().print(yaml.safe_dump(dict(record.spec), sort_keys=False).rstrip())


def _mat(m: Any) -> dict[str, Any]:
    return {
        "version": m.version,
        "start": m.start,
        "end": m.end,
        "rows": m.rows,
        "at": m.created_at,
    }


def _mat_line(m: Any) -> str:
    return f"v{m.version} {fmt_time(m.start)} .. {fmt_time(m.end)}: {m.rows} rows ({fmt_time(m.created_at)})"


def _run_materialize(func: Any, views: tuple[str, ...], as_json: bool, **kwargs: Any) -> list[Any]:
    with progress("materializing rows") as advance:
        done: list[Any] = func(
            views=list(views) or None, progress=lambda _v, n: advance(n), **kwargs
        )
    if as_json:
        print_json([_mat(m) | {"view": m.view} for m in done])
        return done
    print_table(
        "Materialized",
        ("view", "version", "start", "end", "rows"),
        [(m.view, m.version, fmt_time(m.start), fmt_time(m.end), m.rows) for m in done],
    )
    return done


@features.command("materialize")
@click.option("--start", required=True, help="Start time (ISO-8601), inclusive.")
@click.option("--end", required=True, help="End time (ISO-8601), inclusive.")
@click.option("--view", "views", multiple=True, help="Only these views (repeatable).")
@json_option
@pass_workspace
def materialize_cmd(ws: Any, start: str, end: str, views: tuple[str, ...], as_json: bool) -> None:
    """Write the latest value per entity in [START, END] to the online store."""
    _run_materialize(_store(ws).materialize, views, as_json, start=start, end=end)


@features.command("materialize-incremental")
@click.option("--end", help="End time (ISO-8601); default: now.")
@click.option("--view", "views", multiple=True, help="Only these views (repeatable).")
@json_option
@pass_workspace
def materialize_incremental_cmd(
    ws: Any, end: str | None, views: tuple[str, ...], as_json: bool
) -> None:
    """Materialize from where the last run of each view's current version stopped up to END
    (a version never materialized starts from the beginning)."""
    done = _run_materialize(_store(ws).materialize_incremental, views, as_json, end=end)
    fresh = [m for m in done if m.start == 0 and m.version > 1]
    if fresh and not as_json:
        console().print(
            "New versions start from the beginning (rows an older version wrote online lack "
            "their changes): " + ", ".join(f"{m.view} v{m.version}" for m in fresh)
        )


def _features_arg(service: str | None, refs: tuple[str, ...]) -> Any:
    if bool(service) == bool(refs):
        raise click.UsageError("Give either --service NAME or one or more --feature VIEW:NAME.")
    return service or list(refs)


def _entity_rows(pairs: tuple[str, ...]) -> dict[str, list[str]]:
    columns: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r}: use KEY=VALUE, e.g. customer_id=c000042.")
        columns.setdefault(key, []).append(value)
    return columns


@features.command("get")
@click.option("--service", help="A feature service.")
@click.option("--feature", "refs", multiple=True, help="VIEW:FEATURE or VIEW (repeatable).")
@click.option("-e", "--entity", "entities", multiple=True, required=True,
              help="KEY=VALUE of an entity (repeat per key and per entity).")  # fmt: skip
@click.option("--at", help="Read as of this time (ISO-8601) instead of now: TTL and windows "
              "end there, and nothing newer is returned.")  # fmt: skip
@json_option
@reads_workspace
def get_cmd(
    ws: Any, service: str | None, refs: tuple[str, ...], entities: tuple[str, ...], at: str | None,
    as_json: bool,
) -> None:  # fmt: skip
    """Read online feature values, with the status of each value."""
    rows = _entity_rows(entities)
    result = _store(ws).get_online_features(_features_arg(service, refs), rows, now=at)
    if as_json:
        print_json(result.to_dict())
        return
    keys = list(rows)
    print_table(
        "Online features",
        (*keys, "feature", "value", "status", "event time"),
        [
            (*(rows[k][i] for k in keys), name, value, status, fmt_time(stamp))
            for i in range(len(result.values))
            for name, value, status, stamp in zip(
                result.feature_names, result.values[i], result.statuses[i], result.event_ms[i]
            )
        ],
    )


@features.command("check-parity")
@click.option("--service", help="A feature service.")
@click.option("--feature", "refs", multiple=True, help="VIEW:FEATURE or VIEW (repeatable).")
@click.option("--sample", default=100, show_default=True, help="Entities per view.")
@click.option("--at", help="The instant to compare at (default: the last materialization end).")
@json_option
@reads_workspace
def check_parity_cmd(
    ws: Any, service: str | None, refs: tuple[str, ...], sample: int, at: str | None, as_json: bool
) -> None:
    """Compare offline point-in-time values with online values; exit 1 on any mismatch."""
    report = _store(ws).check_parity(_features_arg(service, refs), sample=sample, at=at)
    if as_json:
        print_json(report.to_dict())
    else:
        out = console()
        out.print(
            f"at {fmt_time(report.at_ms)}: {report.entities} entities, {report.compared} values "
            f"compared, {report.skipped_newer_online} skipped (online newer), "
            f"{len(report.mismatches)} mismatches"
        )
        if report.mismatches:
            print_table(
                "Mismatches",
                ("view", "entity", "feature", "offline", "online", "online status"),
                [
                    (m.view, m.entity, m.feature, m.offline, m.online, m.online_status)
                    for m in report.mismatches[:50]
                ],
            )
    if not report.ok:
        sys.exit(1)


@features.command("stream")
@click.argument("view")
@click.option("--group", help="Consumer group (default: modelyard:VIEW).")
@click.option("--consumer", help="Consumer name (default: this host's name).")
@click.option("--batch-size", default=500, show_default=True)
@click.option("--from", "start", type=click.Choice(["start", "latest"]), default="start",
              show_default=True, help="Where a new consumer group begins.")  # fmt: skip
@click.option("--until-idle", is_flag=True, help="Exit once no event is waiting.")
@pass_workspace
def stream_cmd(
    ws: Any, view: str, group: str | None, consumer: str | None, batch_size: int, start: str,
    until_idle: bool,
) -> None:  # fmt: skip
    """Consume VIEW's stream: windowed aggregations written online and logged offline."""
    import signal
    import threading

    processor = _store(ws).stream_processor(
        view, group=group, consumer=consumer, batch_size=batch_size,
        start="0" if start == "start" else "$",
    )  # fmt: skip
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    err = console(stderr=True)
    err.print(
        f"streaming {processor.stream.stream!r} into {view!r} as {processor.consumer!r} "
        f"(group {processor.group!r}); Ctrl-C to stop"
    )
    from rich.live import Live

    with Live(console=err, transient=False) as live:

        def show(stats: Any) -> None:
            live.update(
                f"events {stats.events}  entities written {stats.applied_entities}  "
                f"dead-lettered {stats.dead_lettered}  batches {stats.batches}"
            )

        try:
            stats = processor.run(until_idle=until_idle, stop=stop, on_batch=show)
        except KeyboardInterrupt:
            stats = processor.stats
        show(stats)


@features.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=6566, show_default=True, type=int)
@pass_workspace
def serve_cmd(ws: Any, host: str, port: int) -> None:
    """Serve online features over HTTP (POST /v1/features/online, GET /health)."""
    from modelyard.server.features import serve

    serve(ws, host=host, port=port)
