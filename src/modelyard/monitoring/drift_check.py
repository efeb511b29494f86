"""The drift check of a monitor: the window's inputs (and predictions) against the reference
profile stored with the watched model version, and the values alert rules read from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelyard.errors import NotFoundError
from modelyard.monitoring.spec import DriftCheck
from modelyard.monitoring.window import Window
from modelyard.storage import Workspace

__all__ = ["DriftOutcome", "check_drift"]


@dataclass
class DriftOutcome:
    status: str
    """ok | not_enough_data | no_profile"""
    values: dict[str, float | None] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    message: str = ""

    def evidence(self) -> dict[str, Any]:
        """What an alert stores: the drifted features with their statistics."""
        drifted = [f for f in self.report.get("features", []) if f.get("drifted")]
        return {
            "drift_share": self.report.get("drift_share"),
            "dataset_drift": self.report.get("dataset_drift"),
            "drifted_features": drifted[:50],
            "prediction_drift": self.report.get("prediction_drift"),
        }


def check_drift(
    workspace: Workspace, check: DriftCheck, window: Window, model: str, version: int
) -> DriftOutcome:
    from modelyard.monitoring.drift import detect_drift
    from modelyard.monitoring.profile import load_profile

    try:
        profile = load_profile(workspace, model, version)
    except NotFoundError:
        return DriftOutcome(
            "no_profile",
            message=f"{model} v{version} has no reference profile, so drift cannot be measured; "
            "versions registered by a pipeline get one (or store one with "
            "modelyard.monitoring.save_profile)",
        )
    if window.table is None:
        return DriftOutcome("not_enough_data", message="no predictions in the window")
    predictions = window.table.column("prediction") if check.predictions else None
    report = detect_drift(
        profile,
        window.table,
        features=check.features,
        numeric=check.numeric,
        categorical=check.categorical,
        alpha=check.alpha,
        correction=check.correction,
        psi_threshold=check.psi_threshold,
        drift_share=check.drift_share,
        min_rows=check.min_rows,
        predictions=predictions,
    )
    return _outcome(report)


def _outcome(report: Any) -> DriftOutcome:
    as_dict = report.to_dict()
    tested = [f for f in report.features if f.status == "ok"]
    if not tested:
        reasons = {f.message for f in report.features if f.message} or {"no feature tested"}
        return DriftOutcome(
            "not_enough_data", report=as_dict, message="; ".join(sorted(reasons))[:500]
        )
    psi = [f.statistic for f in tested if f.method == "psi" and f.statistic is not None]
    p_values = [f.p_value for f in tested if f.p_value is not None]
    values: dict[str, float | None] = {
        "drift_share": float(report.drift_share),
        "drifted_features": float(sum(1 for f in tested if f.drifted)),
        "dataset_drift": 1.0 if report.dataset_drift else 0.0,
        "prediction_drift": _flag(report.prediction_drift),
        "max_psi": max(psi) if psi else None,
        "min_p_value": min(p_values) if p_values else None,
    }
    return DriftOutcome("ok", values, as_dict)


def _flag(value: Any) -> float | None:
    if value is None:
        return None
    drifted = getattr(value, "drifted", value)
    return None if drifted is None else (1.0 if drifted else 0.0)
