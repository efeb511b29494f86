"""The registration gate: a threshold, and the current holder of a stage on the same test rows.

The holder is loaded through the registry (hash-checked) and scored on exactly the rows the
candidate was scored on, with the same metric and threshold, so "better" means better on the
same data, not better on whatever data each happened to be evaluated on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from modelyard.entities import ModelVersion
from modelyard.errors import ModelyardError, NotFoundError
from modelyard.pipeline.metrics import MetricDef, predict
from modelyard.pipeline.spec import GateSpec
from modelyard.registry import RegistryClient

__all__ = ["GateResult", "TRAIN_KEY_TAG", "evaluate_gate", "find_version"]

TRAIN_KEY_TAG = "modelyard.pipeline.train_key"


@dataclass
class GateResult:
    passed: bool
    metric: str | None = None
    value: float | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    holder: ModelVersion | None = None
    holder_is_candidate: bool = False

    @property
    def reasons(self) -> list[str]:
        return [c["detail"] for c in self.checks if not c["passed"]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "metric": self.metric,
            "value": self.value,
            "checks": self.checks,
            "holder": f"{self.holder.name}/{self.holder.version}" if self.holder else None,
            "holder_is_candidate": self.holder_is_candidate,
            "reasons": self.reasons,
        }


def find_version(registry: RegistryClient, name: str, train_key: str) -> ModelVersion | None:
    """The version of ``name`` a previous run registered from this very trained model."""
    try:
        versions = registry.list_versions(name)
    except NotFoundError:
        return None
    for version in versions:
        if version.tags.get(TRAIN_KEY_TAG) == train_key:
            return version
    return None


def _better(a: float, b: float, metric: MetricDef, margin: float) -> bool:
    return a >= b + margin if metric.greater_is_better else a <= b - margin


def evaluate_gate(
    gate: GateSpec | None,
    *,
    model_name: str,
    metric: MetricDef | None,
    value: float | None,
    train_key: str,
    registry: RegistryClient,
    X_test: pd.DataFrame,
    y_test: pd.Series,
    threshold: float,
) -> GateResult:
    """Check the threshold and the stage holder; every check is recorded, pass or fail."""
    if gate is None or metric is None or value is None:
        return GateResult(True, checks=[{"check": "none", "passed": True, "detail": "no gate"}])
    result = GateResult(True, metric.name, value)
    if gate.min is not None:
        ok = value >= gate.min
        result.checks.append(
            {
                "check": "min",
                "passed": ok,
                "required": gate.min,
                "actual": value,
                "detail": f"{metric.name} {value:.4f} {'>=' if ok else '<'} min {gate.min}",
            }
        )
    if gate.max is not None:
        ok = value <= gate.max
        result.checks.append(
            {
                "check": "max",
                "passed": ok,
                "required": gate.max,
                "actual": value,
                "detail": f"{metric.name} {value:.4f} {'<=' if ok else '>'} max {gate.max}",
            }
        )
    if gate.must_beat is not None:
        result.checks.append(
            _against_holder(
                gate,
                model_name,
                metric,
                value,
                train_key,
                registry,
                result,
                X_test,
                y_test,
                threshold,
            )
        )
    result.passed = all(c["passed"] for c in result.checks)
    return result


def _against_holder(
    gate: GateSpec,
    model_name: str,
    metric: MetricDef,
    value: float,
    train_key: str,
    registry: RegistryClient,
    result: GateResult,
    X_test: pd.DataFrame,
    y_test: pd.Series,
    threshold: float,
) -> dict[str, Any]:
    stage = gate.must_beat
    base = {"check": "must_beat", "stage": stage}
    try:
        holder = registry.resolve(f"models:/{model_name}@{stage}")
    except NotFoundError:
        return {**base, "passed": True, "detail": f"no version of {model_name} holds {stage!r}"}
    result.holder = holder
    label = f"{model_name} v{holder.version} ({stage})"
    if holder.tags.get(TRAIN_KEY_TAG) == train_key:
        result.holder_is_candidate = True
        return {
            **base,
            "passed": True,
            "holder": holder.version,
            "detail": f"{label} is this very model (same training inputs)",
        }
    try:
        loaded = registry.load_model(f"models:/{model_name}/{holder.version}")
        holder_value = metric(predict(loaded, X_test, y_test, threshold))
    except (ModelyardError, ValueError, TypeError, KeyError) as exc:
        message = getattr(exc, "message", str(exc))
        return {
            **base,
            "passed": False,
            "holder": holder.version,
            "detail": f"cannot score {label} on the test rows ({message}); promote by hand if "
            "the candidate should replace it",
        }
    ok = math.isfinite(value) and _better(value, holder_value, metric, gate.margin)
    relation = "beats" if ok else "does not beat"
    margin = f" by the margin {gate.margin}" if gate.margin else ""
    return {
        **base,
        "passed": ok,
        "holder": holder.version,
        "holder_value": holder_value,
        "actual": value,
        "detail": f"candidate {metric.name} {value:.4f} {relation} {label} {holder_value:.4f}"
        f"{margin} on the same test rows",
    }
