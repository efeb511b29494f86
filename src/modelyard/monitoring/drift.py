"""Dataset drift: every feature of a window against a reference profile, then one verdict.

Each feature is tested with the methods for its kind (numeric: ``ks`` by default; categorical:
``chi2``). P-values from all features are corrected together for multiple testing (Holm by
default), so that with 100 features a 5 % test does not flag five of them by chance; a p-value
method flags when the *adjusted* p-value is below ``alpha``; distance methods (``psi``, ``js``,
``wasserstein``) compare their statistic with a threshold. The dataset has drifted when the
share of tested features that drifted reaches ``drift_share``. Prediction drift is one more
test (not part of the correction family) of the window's predictions against the profile's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np

from modelyard.entities.drift import (
    CATEGORICAL,
    DATETIME,
    NO_REFERENCE,
    NOT_ENOUGH_DATA,
    NUMERIC,
    OK,
    DriftCheck,
    DriftReport,
    FeatureDrift,
    FeatureProfile,
    Profile,
)
from modelyard.entities.predictions import INPUT_PREFIX
from modelyard.errors import InvalidArgumentError, suggest
from modelyard.monitoring import columns as cols
from modelyard.monitoring.detectors import (
    ChiSquaredDetector,
    Detector,
    JensenShannonDetector,
    KSDetector,
    PSIDetector,
    Scored,
    WassersteinDetector,
    score_column,
    unscored,
)
from modelyard.monitoring.profile import canonical_profile, default_workers

__all__ = [
    "CATEGORICAL_METHODS",
    "CORRECTIONS",
    "NUMERIC_METHODS",
    "adjust_p_values",
    "checks_of",
    "detect_drift",
]

NUMERIC_METHODS = ("ks", "wasserstein", "psi", "js")
CATEGORICAL_METHODS = ("chi2", "psi", "js")
CORRECTIONS = ("holm", "bonferroni", "bh", "by", "none")


def detect_drift(
    profile: Profile,
    current: Any,
    *,
    features: Iterable[str] | None = None,
    numeric: str | Sequence[str] = "ks",
    categorical: str | Sequence[str] = "chi2",
    alpha: float = 0.05,
    correction: str = "holm",
    psi_threshold: float = 0.2,
    js_threshold: float = 0.1,
    wasserstein_threshold: float = 0.1,
    drift_share: float = 0.5,
    min_rows: int = 30,
    predictions: Any = None,
    workers: int | None = None,
) -> DriftReport:
    """Test every profiled feature of ``current`` (a DataFrame, Arrow Table or a prediction-log
    window, whose ``input.<name>`` columns are the features; None or no rows: an empty window,
    every feature ``not_enough_data``) against ``profile``.

    ``numeric`` / ``categorical`` name one method or several (a feature drifted if any flags):
    numeric ``ks``, ``wasserstein``, ``psi``, ``js``; categorical ``chi2``, ``psi``, ``js``.
    ``features`` limits the test (default: every numeric and categorical feature; datetime
    features only when named). ``correction``: ``holm``, ``bonferroni``, ``bh``
    (Benjamini-Hochberg), ``by`` (Benjamini-Yekutieli) or ``none``. ``predictions``: the
    window's predictions (default: the log window's ``prediction`` / ``proba`` column that the
    profile describes).
    """
    _check_options(alpha, correction, drift_share, min_rows)
    profile = canonical_profile(profile)  # an older profile's categories, keyed as now
    numeric_methods = _methods(numeric, NUMERIC_METHODS, "numeric")
    categorical_methods = _methods(categorical, CATEGORICAL_METHODS, "categorical")
    thresholds = {
        "ks": alpha,
        "chi2": alpha,
        "psi": psi_threshold,
        "js": js_threshold,
        "wasserstein": wasserstein_threshold,
    }
    detectors = {
        NUMERIC: [_detector(m, thresholds[m], min_rows) for m in numeric_methods],
        CATEGORICAL: [_detector(m, thresholds[m], min_rows) for m in categorical_methods],
    }
    detectors[DATETIME] = detectors[NUMERIC]
    frame = cols.as_frame(current, "current") if current is not None else None
    names = set(cols.column_names(frame)) if frame is not None else set()
    rows = cols.n_rows(frame) if frame is not None else 0
    selected = _select(profile, features)

    def one(name: str) -> Scored:
        reference = profile.features[name]
        if rows == 0:  # an empty window (EventLog.read gives None): nothing to test
            return _no_rows(reference, detectors[reference.kind][0])
        column = cols.find_column(frame, name, names)
        return score_column(reference, column, detectors[reference.kind], min_rows=min_rows)

    n_workers = workers or default_workers(len(selected))
    if n_workers > 1 and len(selected) > 1:
        with ThreadPoolExecutor(n_workers) as pool:
            scored = list(pool.map(one, selected))
    else:
        scored = [one(n) for n in selected]
    results = _correct(scored, correction, alpha)
    tested = [r for r in results if r.status == OK]
    drifted = [r.feature for r in tested if r.drifted]
    share = len(drifted) / len(tested) if tested else 0.0
    return DriftReport(
        features=results,
        drifted_features=drifted,
        drift_share=share,
        dataset_drift=bool(tested) and share >= drift_share,
        prediction_drift=_prediction_drift(profile, frame, names, predictions, detectors, min_rows),
        correction=correction,
        alpha=alpha,
        drift_share_threshold=drift_share,
        n_current=rows,
        status=OK if tested else NOT_ENOUGH_DATA,
        methods={"numeric": numeric_methods, "categorical": categorical_methods},
    )


def _no_rows(reference: FeatureProfile, detector: Detector) -> Scored:
    empty = unscored(
        reference,
        reference.name,
        detector,
        NOT_ENOUGH_DATA,
        0,
        None,
        "not enough data: the window has no rows",
    )
    return Scored(reference, reference.name, None, empty=empty)


# -- options ---------------------------------------------------------------------------------
def _check_options(alpha: float, correction: str, drift_share: float, min_rows: int) -> None:
    if not 0 < alpha < 1:
        raise InvalidArgumentError(f"alpha must be between 0 and 1, not {alpha}.", field="alpha")
    if correction not in CORRECTIONS:
        raise InvalidArgumentError(
            f"Unknown correction {correction!r}{suggest(correction, CORRECTIONS)}; use one of "
            f"{', '.join(CORRECTIONS)}.",
            field="correction",
            value=correction,
        )
    if not 0 < drift_share <= 1:
        raise InvalidArgumentError(
            f"drift_share must be in (0, 1], not {drift_share}.", field="drift_share"
        )
    if min_rows < 1:
        raise InvalidArgumentError(
            f"min_rows must be at least 1, not {min_rows}.", field="min_rows"
        )


def _methods(value: str | Sequence[str], valid: tuple[str, ...], kind: str) -> list[str]:
    chosen = [value] if isinstance(value, str) else list(value)
    if not chosen:
        raise InvalidArgumentError(f"Name at least one {kind} method.", field=kind)
    for method in chosen:
        if method not in valid:
            raise InvalidArgumentError(
                f"Unknown {kind} drift method {method!r}{suggest(method, valid)}; {kind} features "
                f"take {', '.join(valid)}.",
                field=kind,
                value=method,
            )
    return list(dict.fromkeys(chosen))


def _detector(method: str, threshold: float, min_rows: int) -> Detector:
    if method == "ks":
        return KSDetector(alpha=threshold, min_rows=min_rows)
    if method == "chi2":
        return ChiSquaredDetector(alpha=threshold, min_rows=min_rows)
    if method == "psi":
        return PSIDetector(threshold=threshold, min_rows=min_rows)
    if method == "js":
        return JensenShannonDetector(threshold=threshold, min_rows=min_rows)
    return WassersteinDetector(threshold=threshold, min_rows=min_rows)


def _select(profile: Profile, features: Iterable[str] | None) -> list[str]:
    if features is None:
        return [n for n, f in profile.features.items() if f.kind != DATETIME]
    chosen = [features] if isinstance(features, str) else list(features)
    known = list(profile.features)
    for name in chosen:
        bare = name.removeprefix(INPUT_PREFIX)
        if bare not in profile.features:
            raise InvalidArgumentError(
                f"Feature {name!r} is not in the reference profile{suggest(bare, known)}; "
                f"profiled features: {', '.join(known)}.",
                field="features",
                value=name,
            )
    return list(dict.fromkeys(n.removeprefix(INPUT_PREFIX) for n in chosen))


# -- multiple testing ------------------------------------------------------------------------
def adjust_p_values(p_values: Sequence[float] | np.ndarray, method: str = "holm") -> np.ndarray:
    """Adjusted p-values: Holm's step-down, Bonferroni, Benjamini-Hochberg / -Yekutieli
    (scipy.stats.false_discovery_control) or none. Reject where adjusted < alpha."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if m == 0 or method == "none":
        return p.copy()
    if method == "bonferroni":
        return np.minimum(p * m, 1.0)
    if method == "holm":
        order = np.argsort(p, kind="stable")
        stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
        out = np.empty(m)
        out[order] = np.minimum(stepped, 1.0)
        return out
    if method in ("bh", "by"):
        from scipy.stats import false_discovery_control

        return np.asarray(false_discovery_control(p, method=method), dtype=np.float64)
    raise InvalidArgumentError(f"Unknown correction {method!r}.", field="correction", value=method)


def _correct(scored: list[Scored], correction: str, alpha: float) -> list[FeatureDrift]:
    """Adjust every p-value of the tested features together; re-decide those checks."""
    where = [
        (i, j)
        for i, s in enumerate(scored)
        for j, c in enumerate(s.checks)
        if s.empty is None and c.p_value is not None
    ]
    adjusted = adjust_p_values([scored[i].checks[j].p_value or 0.0 for i, j in where], correction)
    checks = [list(s.checks) for s in scored]
    for (i, j), p_adj in zip(where, adjusted):
        c = checks[i][j]
        checks[i][j] = replace(c, p_value_adjusted=float(p_adj), drifted=bool(p_adj < alpha))
    return [replace(s, checks=tuple(c)).result(correction) for s, c in zip(scored, checks)]


# -- predictions -----------------------------------------------------------------------------
def _prediction_drift(
    profile: Profile,
    frame: Any,
    names: set[str],
    predictions: Any,
    detectors: dict[str, list[Detector]],
    min_rows: int,
) -> FeatureDrift | None:
    reference = profile.predictions
    if predictions is None:
        is_log = any(n.startswith(INPUT_PREFIX) for n in names)
        if frame is None:
            return None
        if reference is None or not is_log or reference.name not in names:
            return None
        predictions = cols.get(frame, reference.name)
    if reference is None:
        return FeatureDrift(
            feature="prediction",
            kind=NUMERIC,
            method="",
            statistic=None,
            p_value=None,
            threshold=0.0,
            drifted=False,
            n_reference=0,
            n_current=len(predictions),
            status=NO_REFERENCE,
            message="the profile has no predictions to compare with (it was built without "
            "predictions=...)",
        )
    if not hasattr(predictions, "dtype") and not hasattr(predictions, "type"):
        predictions = np.asarray(predictions)
    scored = score_column(reference, predictions, detectors[reference.kind], min_rows=min_rows)
    return scored.result()


def checks_of(report: DriftReport, method: str) -> dict[str, DriftCheck]:
    """Feature -> its ``method`` check (features tested with that method)."""
    return {f.feature: c for f in report.features for c in f.checks if c.method == method}
