"""The drift check of a monitor: the inputs (and predictions) of the window's rows that the watched
model version answered against the reference profile stored with that version (rows of other
versions and the shadow model's are left out: the profile says what that version was trained
on, and its predictions are compared with its own), and the values alert rules read from it:

- ``drift_share`` / ``dataset_drift`` / ``drifted_features``: the report's dataset verdict;
- ``max_psi``: the largest PSI of any feature (with the psi method);
- ``min_p_value``: the smallest p-value after the multiple-testing correction (ks / chi2);
- ``prediction_drift``: 1 when the predictions' distribution drifted, else 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelyard.entities.drift import OK, DriftReport, Profile
from modelyard.errors import NotFoundError
from modelyard.monitoring.drift import checks_of, detect_drift
from modelyard.monitoring.spec import DriftCheck
from modelyard.monitoring.store import load_profile
from modelyard.monitoring.window import Window
from modelyard.storage import Workspace

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DriftOutcome", "check_drift", "detect", "outcome_of"]


@dataclass
class DriftOutcome:
    status: str
    """ok | not_enough_data | no_profile"""
    values: dict[str, float | None] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    message: str = ""

    def evidence(self) -> dict[str, Any]:
        """What an alert stores: the dataset verdict and the drifted features' statistics."""
        drifted = [f for f in self.report.get("features", []) if f.get("drifted")]
        return {
            "status": self.status,
            "drift_share": self.report.get("drift_share"),
            "dataset_drift": self.report.get("dataset_drift"),
            "n_tested": self.report.get("n_tested"),
            "n_current": self.report.get("n_current"),
            "drifted_features": drifted[:50],
            "prediction_drift": self.report.get("prediction_drift"),
        }


def check_drift(
    workspace: Workspace, check: DriftCheck, window: Window, model: str, version: int
) -> DriftOutcome:
    try:
        profile = load_profile(workspace, model, version)
    except NotFoundError as exc:
        return DriftOutcome("no_profile", message=exc.message)
    if window.table is None:
        return DriftOutcome("not_enough_data", message="no predictions in the window")
    rows = window.scored_by(version)
    if rows is None:
        return DriftOutcome(
            "not_enough_data",
            message=f"{model} v{version} answered none of the window's {window.rows} predictions",
        )
    return outcome_of(detect(profile, check, rows))


def detect(profile: Profile, check: DriftCheck, current: pa.Table) -> DriftReport:
    """``detect_drift`` with a monitor's drift options."""
    if not check.predictions:
        current = current.drop_columns(
            [c for c in ("prediction", "proba") if c in current.column_names]
        )
    return detect_drift(
        profile,
        current,
        features=check.features,
        numeric=check.numeric,
        categorical=check.categorical,
        alpha=check.alpha,
        correction=check.correction,
        psi_threshold=check.psi_threshold,
        js_threshold=check.js_threshold,
        wasserstein_threshold=check.wasserstein_threshold,
        drift_share=check.drift_share,
        min_rows=check.min_rows,
    )


def outcome_of(report: DriftReport) -> DriftOutcome:
    as_dict = report.to_dict()
    tested = [f for f in report.features if f.status == OK]
    if not tested:
        reasons = sorted({f.message for f in report.features if f.message})
        message = "; ".join(reasons)[:500] or "no feature could be tested"
        return DriftOutcome("not_enough_data", report=as_dict, message=message)
    psi = [c.statistic for c in checks_of(report, "psi").values()]
    adjusted = [
        c.p_value_adjusted for f in tested for c in f.checks if c.p_value_adjusted is not None
    ]
    prediction = report.prediction_drift
    values: dict[str, float | None] = {
        "drift_share": float(report.drift_share),
        "drifted_features": float(len(report.drifted_features)),
        "dataset_drift": 1.0 if report.dataset_drift else 0.0,
        "prediction_drift": (
            (1.0 if prediction.drifted else 0.0)
            if prediction is not None and prediction.status == OK
            else None
        ),
        "max_psi": max(psi) if psi else None,
        "min_p_value": min(adjusted) if adjusted else None,
    }
    return DriftOutcome(OK, values, as_dict)
