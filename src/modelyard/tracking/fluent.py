"""Module-level tracking functions on the default workspace (``modelyard.start_run`` ...).

The active run is kept per thread / asyncio task; ``start_run(nested=True)`` inside another run
records the outer one as its parent.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import Any

from modelyard.entities import RunStatus
from modelyard.errors import ConflictError
from modelyard.tracking.client import (
    DEFAULT_EXPERIMENT,
    ActiveRun,
    LoggedModel,
    MetricInput,
    TrackingClient,
)

__all__ = [
    "active_run",
    "end_run",
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

_stack: contextvars.ContextVar[tuple[ActiveRun, ...]] = contextvars.ContextVar(
    "modelyard_runs", default=()
)


class _FluentRun(ActiveRun):
    """An ActiveRun that also leaves the fluent stack when it ends."""

    def end(self, status: RunStatus | str = RunStatus.FINISHED) -> None:
        super().end(status)
        stack = _stack.get()
        if stack and stack[-1] is self:
            _stack.set(stack[:-1])


def start_run(
    experiment: str = DEFAULT_EXPERIMENT,
    name: str | None = None,
    *,
    nested: bool = False,
    tags: Mapping[str, Any] | None = None,
    client: TrackingClient | None = None,
) -> ActiveRun:
    stack = _stack.get()
    if stack and not nested:
        raise ConflictError(
            f"Run {stack[-1].run_id} is already active; end it first or pass nested=True.",
            run_id=stack[-1].run_id,
        )
    client = client or (stack[-1].client if stack else TrackingClient())
    parent = stack[-1].run_id if stack else None
    base = client.start_run(experiment, name, tags=tags, parent_run_id=parent)
    run = _FluentRun(client, base.info)
    _stack.set((*stack, run))
    return run


def active_run() -> ActiveRun | None:
    stack = _stack.get()
    return stack[-1] if stack else None


def _current() -> ActiveRun:
    run = active_run()
    if run is None:
        raise ConflictError("No active run: call modelyard.start_run() first (as a `with` block).")
    return run


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    run = active_run()
    if run is not None:
        run.end(status)


def log_param(key: str, value: Any) -> None:
    _current().log_param(key, value)


def log_params(params: Mapping[str, Any]) -> None:
    _current().log_params(params)


def set_tag(key: str, value: Any) -> None:
    _current().set_tag(key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    _current().set_tags(tags)


def log_metric(key: str, value: float, step: int = 0, timestamp: int | None = None) -> None:
    _current().log_metric(key, value, step, timestamp)


def log_metrics(metrics: MetricInput, step: int = 0, timestamp: int | None = None) -> int:
    return _current().log_metrics(metrics, step, timestamp)


def log_input(data: Any, **kwargs: Any) -> Any:
    return _current().log_input(data, **kwargs)


def log_artifact(local_path: str, artifact_path: str | None = None) -> Any:
    return _current().log_artifact(local_path, artifact_path)


def log_artifacts(local_dir: str, artifact_path: str | None = None) -> Any:
    return _current().log_artifacts(local_dir, artifact_path)


def log_model(model: Any, artifact_path: str = "model", **kwargs: Any) -> LoggedModel:
    return _current().log_model(model, artifact_path, **kwargs)
