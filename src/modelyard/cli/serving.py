"""``modelyard serve`` (real-time HTTP) and ``modelyard predict`` (batch inference on files)."""

from __future__ import annotations

from typing import Any

import click

from modelyard.cli.output import console, json_option, pass_workspace, print_json


@click.command("serve")
@click.argument("model_uri", required=False)
@click.option("--config", "config_path", type=click.Path(), help="A deployments file (several).")
@click.option("--name", help="Deployment name (default: the model's name).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--max-batch-size", type=click.IntRange(1, 8192), help="Rows per model call.")
@click.option("--max-latency-ms", type=click.FloatRange(0, 1000), help="Batch wait at most.")
@click.option("--max-queue", type=click.IntRange(1), help="Waiting requests; more get 503.")
@click.option("--timeout-ms", type=click.FloatRange(1), help="Answer within this or 504.")
@click.option("--cache", type=click.Choice(["memory", "redis"]), help="Prediction cache.")
@click.option(
    "--rate-limit", type=click.FloatRange(0.001), help="Requests/s per client IP address (429)."
)
@click.option(
    "--rate-limit-header",
    help="Behind a trusted proxy that sets it: the header naming the client for --rate-limit.",
)
@click.option("--feature-service", help="Fetch these online features by entity id.")
@click.option(
    "--features-as-of",
    help="Read online features as of this input's time (replaying past events), not now.",
)
@click.option("--poll-interval-s", type=click.FloatRange(0.05), help="Registry check period.")
@click.option("--no-access-log", is_flag=True, help="No structured access log on stderr.")
@click.option("--no-prediction-log", is_flag=True, help="Do not log predictions.")
@click.option("--proxy-headers", is_flag=True, help="Client address from X-Forwarded-For.")
@click.option("--log-level", default="info", show_default=True)
@pass_workspace
def serve(
    ws: Any,
    model_uri: str | None,
    config_path: str | None,
    name: str | None,
    host: str,
    port: int,
    workers: int,
    log_level: str,
    no_access_log: bool,
    no_prediction_log: bool,
    proxy_headers: bool,
    poll_interval_s: float | None,
    **options: Any,
) -> None:
    """Serve MODEL_URI (models:/NAME@ALIAS or models:/NAME/VERSION) or the deployments of
    --config over HTTP: /v1/models/NAME/predict, /v2 (Open Inference Protocol), /metrics, /docs.
    The server follows the registry: when the alias moves, it swaps versions without a pause."""
    from modelyard.errors import InvalidArgumentError
    from modelyard.serving import load_deployments, single_deployment

    given = {k: v for k, v in options.items() if v is not None}
    if (model_uri is None) == (config_path is None):
        raise InvalidArgumentError(
            "Give a model URI (modelyard serve models:/fraud@production) or --config "
            "deployments.yaml, not both.",
            field="model_uri",
        )
    server_opts: dict[str, Any] = {}
    if poll_interval_s is not None:
        server_opts["poll_interval_s"] = poll_interval_s
    if no_access_log:
        server_opts["access_log"] = False
    if proxy_headers:
        server_opts["proxy_headers"] = True
    if no_prediction_log:
        server_opts["prediction_log"] = {"enabled": False}
    if config_path is not None:
        if given or name:
            flags = ", ".join(
                f"--{k.replace('_', '-')}" for k in [*given, *(["name"] if name else [])]
            )
            raise InvalidArgumentError(
                f"{flags} apply to a single model; with --config set them in the deployments "
                "file (see docs/serving.md).",
                field="config",
            )
        spec = load_deployments(config_path)
        spec = spec.model_copy(
            update={"server": spec.server.model_copy(update=_server_update(spec, server_opts))}
        )
    else:
        assert model_uri is not None
        spec = single_deployment(model_uri, name=name, server=server_opts, **_deployment(given))
    from modelyard.server.runner import serve_models

    console(stderr=True).print(
        f"serving {', '.join(spec.deployments)} on http://{host}:{port} "
        f"({workers} worker{'s' if workers > 1 else ''}); docs at /docs, metrics at /metrics"
    )
    serve_models(spec, ws.settings, host=host, port=port, workers=workers, log_level=log_level)


def _server_update(spec: Any, opts: dict[str, Any]) -> dict[str, Any]:
    update = dict(opts)
    if "prediction_log" in update:
        update["prediction_log"] = spec.server.prediction_log.model_copy(update={"enabled": False})
    return update


def _deployment(given: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    batching = {
        k: given[k] for k in ("max_batch_size", "max_latency_ms", "max_queue") if k in given
    }
    if batching:
        out["batching"] = batching
    if "timeout_ms" in given:
        out["timeout_ms"] = given["timeout_ms"]
    if "cache" in given:
        out["cache"] = {"backend": given["cache"]}
    if "rate_limit_header" in given and "rate_limit" not in given:
        from modelyard.errors import InvalidArgumentError

        raise InvalidArgumentError(
            "--rate-limit-header names the client for --rate-limit; give --rate-limit RPS too.",
            field="rate_limit_header",
        )
    if "rate_limit" in given:
        out["rate_limit"] = {"requests_per_s": given["rate_limit"]}
        if "rate_limit_header" in given:
            out["rate_limit"]["client_header"] = given["rate_limit_header"]
    for key in ("feature_service", "features_as_of"):
        if key in given:
            out[key] = given[key]
    return out


@click.command("predict")
@click.argument("model_uri")
@click.option("--input", "input_path", required=True, type=click.Path(), help="parquet/csv/jsonl")
@click.option("--output", "output_path", required=True, type=click.Path(), help="parquet/csv/jsonl")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 256))
@click.option("--chunk-size", default=10_000, show_default=True, type=click.IntRange(1))
@click.option("--input-format", type=click.Choice(["parquet", "csv", "jsonl"]))
@click.option("--output-format", type=click.Choice(["parquet", "csv", "jsonl"]))
@click.option("--no-proba", is_flag=True, help="Only the prediction column.")
@json_option
@pass_workspace
def predict(
    ws: Any,
    model_uri: str,
    input_path: str,
    output_path: str,
    workers: int,
    chunk_size: int,
    input_format: str | None,
    output_format: str | None,
    no_proba: bool,
    as_json: bool,
) -> None:
    """Score every row of --input with MODEL_URI and write --output (input columns +
    prediction + proba_<class>), in chunks, with --workers local processes."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from modelyard.serving import predict_file

    columns = [
        TextColumn("scoring"),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console(stderr=True), transient=as_json) as bar:
        task = bar.add_task("scoring", total=None)

        def advance(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        result = predict_file(
            model_uri,
            input_path,
            output_path,
            workspace=ws,
            chunk_size=chunk_size,
            workers=workers,
            input_format=input_format,
            output_format=output_format,
            proba=not no_proba,
            progress=advance,
        )
    if as_json:
        print_json({**result.__dict__, "rows_per_s": result.rows_per_s})
        return
    version = f" version {result.version}" if result.version is not None else ""
    console().print(
        f"scored {result.rows:,} rows with {result.model}{version} in {result.seconds:.1f} s "
        f"({result.rows_per_s:,.0f} rows/s, {result.workers} worker"
        f"{'s' if result.workers > 1 else ''}) -> {result.output}"
    )
