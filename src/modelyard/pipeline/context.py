"""What a pipeline run carries from step to step, and how steps report."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelyard.compute import ComputeBackend, get_backend
from modelyard.data import Dataset
from modelyard.pipeline.cache import StepCache
from modelyard.pipeline.feature_data import FeatureInputs
from modelyard.pipeline.loading import LoadedSpec
from modelyard.pipeline.spec import PipelineSpec
from modelyard.storage import Workspace
from modelyard.tracking import ActiveRun

__all__ = ["STEPS", "Context", "Reporter", "StepOutcome"]

STEPS = ("ingest", "validate", "split", "transform", "tune", "train", "evaluate", "register")


@dataclass
class StepOutcome:
    """How a step went: ``ran``, ``cached`` (outputs reused), ``skipped`` (not in the spec) or
    ``failed``; a one-line summary; and, when cached, the run that computed the outputs."""

    name: str
    status: str
    seconds: float = 0.0
    summary: str = ""
    cached_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "summary": self.summary,
            "cached_from": self.cached_from,
        }


class Reporter:
    """Receives a run's progress. The CLI draws it live; the default says nothing."""

    def run_started(self, run_id: str, experiment: str, steps: tuple[str, ...]) -> None:
        """The tracking run exists; ``steps`` will be reported in this order."""

    def step_started(self, step: str) -> None:
        """A step begins."""

    def step_progress(self, step: str, done: int, total: int | None, detail: str = "") -> None:
        """Part of a step is done (tuning trials)."""

    def step_finished(self, step: str, outcome: StepOutcome) -> None:
        """A step ended (ran, cached, skipped or failed)."""


@dataclass
class Context:
    """The state of one pipeline run. Steps read what earlier steps left and add their own."""

    loaded: LoadedSpec
    workspace: Workspace
    run: ActiveRun
    cache: StepCache
    reporter: Reporter
    keys: dict[str, str] = field(default_factory=dict)
    dataset: Dataset | None = None
    inputs: list[str] = field(default_factory=list)
    """fingerprints of the datasets the run read"""
    features: FeatureInputs | None = None
    """when the rows came from the feature store: which features, from which view versions"""
    frame: pd.DataFrame | None = None
    task: str = "auto"
    X_train: pd.DataFrame | None = None
    y_train: pd.Series | None = None
    X_test: pd.DataFrame | None = None
    y_test: pd.Series | None = None
    ts_train: pd.Series | None = None
    plan: Any = None
    preprocessor_dir: Path | None = None
    """the fitted preprocessor, saved by the transform step; loaded only when a step needs it"""
    _preprocessor: Any = None
    trusted_types: list[str] = field(default_factory=list)
    tune: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    model: Any = None
    model_dir: Path | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    cv: dict[str, Any] = field(default_factory=dict)
    plots: list[str] = field(default_factory=list)
    validation: dict[str, Any] | None = None
    gate: Any = None
    version: Any = None
    registered: str = ""
    _backend: ComputeBackend | None = None

    @property
    def spec(self) -> PipelineSpec:
        return self.loaded.spec

    @property
    def preprocessor(self) -> Any:
        """The fitted preprocessor (a cached re-run whose train step hits the cache never loads it)."""
        if self._preprocessor is None:
            from modelyard.flavors import load_model

            assert self.preprocessor_dir is not None, "the transform step has not run"
            self._preprocessor = load_model(
                self.preprocessor_dir, trusted_types=self.trusted_types
            ).raw
        return self._preprocessor

    @property
    def backend(self) -> ComputeBackend:
        if self._backend is None:
            self._backend = get_backend(self.workspace.settings.compute)
        return self._backend

    def artifact_json(self, data: Any, path: str) -> None:
        self.run.log_text(json.dumps(data, indent=2, default=_json_default), path)

    def log_file(self, local: Path, artifact_dir: str) -> str:
        info = self.run.log_artifact(local, artifact_dir)
        return f"{self.run.info.artifact_uri}/{info.path}"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (os.PathLike, pd.Timestamp)):
        return str(value)
    return str(value)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=_json_default))


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
