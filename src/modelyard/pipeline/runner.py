"""Run a pipeline: one tracking run, the steps in order, each reported as it starts and ends.

result = run("examples/fraud/pipeline.yaml")
result.metrics["roc_auc"], result.model_version, result.plots
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelyard.entities import ModelVersion, Run
from modelyard.errors import ModelyardError
from modelyard.pipeline.cache import StepCache
from modelyard.pipeline.context import STEPS, Context, Reporter, StepOutcome
from modelyard.pipeline.loading import LoadedSpec, SpecSource, check_references, load_spec
from modelyard.pipeline.register import register_step
from modelyard.pipeline.steps import STEP_FUNCTIONS
from modelyard.storage import Workspace, default_workspace
from modelyard.tracking import TrackingClient

__all__ = ["PIPELINE_TAG", "PipelineResult", "list_runs", "run"]

PIPELINE_TAG = "modelyard.pipeline"


@dataclass
class PipelineResult:
    """What a run produced. ``metrics`` are on the held-out rows; ``cv`` has mean/std/folds."""

    run_id: str
    experiment: str
    steps: dict[str, StepOutcome]
    metrics: dict[str, float] = field(default_factory=dict)
    cv: dict[str, Any] = field(default_factory=dict)
    best_params: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] | None = None
    gate: dict[str, Any] | None = None
    model_version: ModelVersion | None = None
    model_uri: str = ""
    plots: list[str] = field(default_factory=list)
    artifact_uri: str = ""
    seconds: float = 0.0

    @property
    def cached_steps(self) -> list[str]:
        return [n for n, o in self.steps.items() if o.status == "cached"]

    def to_dict(self) -> dict[str, Any]:
        v = self.model_version
        return {
            "run_id": self.run_id,
            "experiment": self.experiment,
            "seconds": round(self.seconds, 3),
            "steps": {n: o.to_dict() for n, o in self.steps.items()},
            "metrics": self.metrics,
            "cross_validation": self.cv,
            "best_params": self.best_params,
            "gate": self.gate,
            "model_version": {"name": v.name, "version": v.version, "stage": v.stage}
            if v
            else None,
            "model_uri": self.model_uri,
            "plots": self.plots,
            "artifact_uri": self.artifact_uri,
        }


def run(
    spec: SpecSource | LoadedSpec,
    *,
    workspace: Workspace | None = None,
    use_cache: bool = True,
    reporter: Reporter | None = None,
    base_dir: str | None = None,
) -> PipelineResult:
    """Run a pipeline spec (a YAML path, a mapping, a PipelineSpec) end to end.

    Every problem in the spec (and what it names in the workspace: feature services, views) is
    reported before anything runs. ``use_cache=False`` recomputes
    every step (and refreshes the cache). Raises the step's error (a ModelyardError) on
    failure; the tracking run is then FAILED with the error in its ``modelyard.error`` tag.
    """
    ws = workspace or default_workspace()
    if isinstance(spec, LoadedSpec):
        loaded = spec
        check_references(loaded, ws)
    else:
        loaded = load_spec(spec, base_dir=base_dir, workspace=ws)
    reporter = reporter or Reporter()
    cache = StepCache(Path(ws.settings.cache_dir) / "pipeline", enabled=use_cache)
    tracking = TrackingClient(ws)
    start = time.perf_counter()
    tags = {PIPELINE_TAG: loaded.spec.name}
    if loaded.path is not None:
        tags["modelyard.pipeline.spec"] = str(loaded.path)
    with tracking.start_run(loaded.spec.experiment_name, tags=tags) as active:
        ctx = Context(loaded, ws, active, cache, reporter)
        reporter.run_started(active.run_id, loaded.spec.experiment_name, STEPS)
        _record_spec(ctx)
        outcomes: dict[str, StepOutcome] = {}
        try:
            for name in STEPS:
                outcomes[name] = _run_step(ctx, name, outcomes)
        finally:
            active.set_tag(
                "modelyard.pipeline.steps",
                ",".join(f"{n}:{o.status}" for n, o in outcomes.items()),
            )
            ctx.artifact_json({n: o.to_dict() for n, o in outcomes.items()}, "pipeline/steps.json")
        if ctx._backend is not None:
            ctx._backend.close()
        return PipelineResult(
            run_id=active.run_id,
            experiment=loaded.spec.experiment_name,
            steps=outcomes,
            metrics=dict(ctx.metrics),
            cv=dict(ctx.cv),
            best_params=dict(ctx.tune.best_params) if ctx.tune else {},
            validation=ctx.validation,
            gate=ctx.gate.to_dict() if ctx.gate is not None else None,
            model_version=ctx.version,
            model_uri=f"runs:/{active.run_id}/model",
            plots=list(ctx.plots),
            artifact_uri=active.info.artifact_uri,
            seconds=time.perf_counter() - start,
        )


def _step_function(name: str) -> Callable[[Context], StepOutcome]:
    return register_step if name == "register" else STEP_FUNCTIONS[name]


def _run_step(ctx: Context, name: str, outcomes: dict[str, StepOutcome]) -> StepOutcome:
    ctx.reporter.step_started(name)
    start = time.perf_counter()
    try:
        outcome = _step_function(name)(ctx)
    except BaseException as exc:
        failed = StepOutcome(name, "failed", time.perf_counter() - start, _message(exc))
        outcomes[name] = failed
        ctx.reporter.step_finished(name, failed)
        ctx.run.set_tag(f"modelyard.pipeline.step.{name}", "failed")
        if isinstance(exc, ModelyardError) or not isinstance(exc, Exception):
            raise
        raise ModelyardError(
            f"Pipeline step {name!r} failed: {type(exc).__name__}: {exc}", step=name
        ) from exc
    outcome.seconds = time.perf_counter() - start
    ctx.run.set_tag(f"modelyard.pipeline.step.{name}", outcome.status)
    ctx.reporter.step_finished(name, outcome)
    return outcome


def _message(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def _record_spec(ctx: Context) -> None:
    """The spec as written (its YAML text when it came from a file) and as understood."""
    import yaml

    spec = ctx.spec
    normalized = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    text = ctx.loaded.text or yaml.safe_dump(normalized, sort_keys=False)
    ctx.run.log_text(text, "pipeline/spec.yaml")
    ctx.artifact_json(normalized, "pipeline/spec.normalized.json")
    ctx.run.log_params(_flatten(normalized, exclude=("name", "description")))


def _flatten(data: Any, prefix: str = "", exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """``{"split": {"method": "temporal"}}`` -> ``{"split.method": "temporal"}`` (lists as text)."""
    import json

    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in exclude:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{name}."))
        elif isinstance(value, list):
            out[name] = json.dumps(value, default=str)[:500]
        elif not isinstance(value, dict):
            out[name] = value
    return out


def list_runs(
    workspace: Workspace | None = None, *, name: str | None = None, max_results: int = 50
) -> list[Run]:
    """Pipeline runs, newest first (``name``: of one pipeline only)."""
    client = TrackingClient(workspace or default_workspace())
    flt = f"tags.`{PIPELINE_TAG}` = '{name}'" if name else f"tags.`{PIPELINE_TAG}` is not null"
    return list(client.search_runs(None, flt, "attributes.start_time desc", max_results))
