"""``modelyard experiments`` and ``modelyard runs``."""

from __future__ import annotations

from typing import Any

import click

from modelyard.cli.output import (
    fmt_time,
    json_option,
    print_json,
    print_kv,
    print_table,
    reads_workspace,
)


@click.group()
def experiments() -> None:
    """Experiments."""


@experiments.command("list")
@json_option
@reads_workspace
def experiments_list(ws: Any, as_json: bool) -> None:
    """List experiments."""
    from modelyard.tracking import TrackingClient

    items = TrackingClient(ws).list_experiments()
    if as_json:
        print_json(
            [
                {
                    "experiment_id": e.experiment_id,
                    "name": e.name,
                    "artifact_location": e.artifact_location,
                    "created_at": e.created_at,
                    "tags": dict(e.tags),
                }
                for e in items
            ]
        )
        return
    print_table(
        "Experiments",
        ("id", "name", "created", "artifact location"),
        [(e.experiment_id, e.name, fmt_time(e.created_at), e.artifact_location) for e in items],
    )


@click.group()
def runs() -> None:
    """Runs."""


@runs.command("list")
@click.option(
    "-e", "--experiment", multiple=True, help="Experiment name (repeatable). Default: all."
)
@click.option(
    "-f", "--filter", "filter_", help="e.g. \"metrics.auc > 0.9 and params.model = 'lgbm'\""
)
@click.option("-o", "--order-by", multiple=True, help="e.g. 'metrics.auc desc' (repeatable).")
@click.option("-n", "--max-results", default=50, show_default=True, type=int)
@click.option("--page-token", help="next_page_token from a previous --json page.")
@json_option
@reads_workspace
def runs_list(
    ws: Any,
    experiment: tuple[str, ...],
    filter_: str | None,
    order_by: tuple[str, ...],
    max_results: int,
    page_token: str | None,
    as_json: bool,
) -> None:
    """List and search runs (see docs/tracking.md for the filter grammar)."""
    from modelyard.tracking import TrackingClient

    page = TrackingClient(ws).search_runs(
        list(experiment) or None, filter_, list(order_by) or None, max_results, page_token
    )
    if as_json:
        print_json(
            {"runs": [r.to_dict() for r in page.items], "next_page_token": page.next_page_token}
        )
        return
    metric_keys = sorted({k for r in page.items for k in r.metrics})[:6]
    print_table(
        "Runs",
        ("run id", "name", "status", "started", *metric_keys),
        [
            (
                r.run_id,
                r.name,
                r.status,
                fmt_time(r.start_time),
                *(r.metrics.get(k) for k in metric_keys),
            )
            for r in page.items
        ],
    )
    if page.next_page_token:
        click.echo(f"more: --page-token {page.next_page_token}")


@runs.command("show")
@click.argument("run_id")
@json_option
@reads_workspace
def runs_show(ws: Any, run_id: str, as_json: bool) -> None:
    """Show one run: params, metrics, tags, inputs, artifacts."""
    from modelyard.tracking import TrackingClient

    client = TrackingClient(ws)
    run = client.get_run(run_id)
    artifacts = client.list_artifacts(run_id)
    if as_json:
        print_json(
            {
                **run.to_dict(),
                "artifacts": [
                    {"path": a.path, "size": a.size, "sha256": a.sha256} for a in artifacts
                ],
            }
        )
        return
    print_kv(
        f"Run {run.run_id}",
        [
            ("name", run.name),
            ("status", run.status),
            ("experiment", run.experiment_id),
            ("user", run.user),
            ("started", fmt_time(run.start_time)),
            ("ended", fmt_time(run.end_time)),
            ("code version", run.code_version),
            ("parent", run.parent_run_id),
            ("artifact uri", run.artifact_uri),
        ],
    )
    if run.params:
        print_table("Params", ("key", "value"), sorted(run.params.items()))
    if run.metrics:
        print_table("Metrics (latest)", ("key", "value"), sorted(run.metrics.items()))
    if run.tags:
        print_table("Tags", ("key", "value"), sorted(run.tags.items()))
    if run.inputs:
        print_table(
            "Inputs",
            ("name", "digest", "source", "rows", "context"),
            [(i.name, i.digest[:16], i.source, i.num_rows, i.context) for i in run.inputs],
        )
    if artifacts:
        print_table(
            "Artifacts",
            ("path", "size", "sha256"),
            [(a.path, a.size, a.sha256[:16]) for a in artifacts],
        )
