"""Tracking: experiments, runs, params, tags, metrics, artifacts, dataset inputs, models."""

from modelyard.tracking.client import (
    DEFAULT_EXPERIMENT,
    ActiveRun,
    LoggedModel,
    RunTerminated,
    TrackingClient,
)
from modelyard.tracking.datasets import fingerprint
from modelyard.tracking.fluent import (
    active_run,
    end_run,
    log_artifact,
    log_artifacts,
    log_input,
    log_metric,
    log_metrics,
    log_model,
    log_param,
    log_params,
    set_tag,
    set_tags,
    start_run,
)

__all__ = [
    "DEFAULT_EXPERIMENT",
    "ActiveRun",
    "LoggedModel",
    "RunTerminated",
    "TrackingClient",
    "active_run",
    "end_run",
    "fingerprint",
    "log_artifact",
    "log_artifacts",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "set_tag",
    "set_tags",
    "start_run",
]
