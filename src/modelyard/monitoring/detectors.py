"""Drift detectors with scikit-learn's verbs: ``fit(reference)``, ``score(current)``.

    KSDetector(alpha=0.05).fit(train["amount"].to_numpy()).score(window["amount"])

``fit`` takes a :class:`FeatureProfile` (from a stored profile) or an array (profiled on the
spot, keeping every distinct value: exact at any size). ``score`` takes the current values
(numpy, pandas or Arrow) and returns a :class:`FeatureDrift`. Missing values are left out and
reported as a missing rate; fewer than ``min_rows`` values on either side is
``not_enough_data`` (never drifted). A single detector's p-value is not corrected for multiple
testing; :func:`modelyard.monitoring.detect_drift` corrects across features.

Categories the reference never saw go to one extra bucket (reference count 0, or the count of
the categories beyond the profile's kept ones): chi-squared and Jensen-Shannon need no
smoothing for it; PSI gives empty buckets a share of ``epsilon`` (1e-4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Self

import numpy as np

from modelyard.entities.drift import (
    CATEGORICAL,
    MISSING_COLUMN,
    NOT_ENOUGH_DATA,
    NUMERIC,
    OK,
    DriftCheck,
    FeatureDrift,
    FeatureProfile,
)
from modelyard.errors import InvalidArgumentError, NotFoundError
from modelyard.monitoring import columns as cols
from modelyard.monitoring import stats
from modelyard.monitoring.profile import canonical_feature, profile_column

__all__ = [
    "ChiSquaredDetector",
    "Current",
    "Detector",
    "JensenShannonDetector",
    "KSDetector",
    "PSIDetector",
    "Scored",
    "WassersteinDetector",
    "assemble",
    "evaluate",
    "score_column",
    "summarize",
]


@dataclass(frozen=True)
class Current:
    """One current column, summarized once for every method that scores it."""

    n: int
    missing: int
    sorted: np.ndarray | None = None
    """numeric: the non-missing values, sorted"""
    counts: np.ndarray | None = None
    """categorical: count per reference category, then the unseen / other bucket"""
    unseen: dict[str, int] = field(default_factory=dict)

    @property
    def missing_rate(self) -> float:
        total = self.n + self.missing
        return self.missing / total if total else 0.0

    def buckets(self, reference: FeatureProfile) -> np.ndarray:
        """Counts per reference bucket (quantile bins, or categories + unseen)."""
        if self.counts is not None:
            return self.counts
        assert self.sorted is not None
        upto = np.searchsorted(self.sorted, reference.bin_edges, side="right")
        return np.diff(np.concatenate([[0], upto, [self.n]])).astype(np.int64)


def summarize(reference: FeatureProfile, column: Any) -> Current:
    """Sort a numeric column (NaN left out) or count a categorical one into the reference's
    buckets."""
    column = cols.as_values(column)
    if reference.kind == CATEGORICAL:
        counts, missing = cols.category_counts(column)
        index = {c: i for i, c in enumerate(reference.categories)}
        buckets = np.zeros(len(index) + 1, dtype=np.int64)
        unseen: dict[str, int] = {}
        for key, count in counts.items():
            at = index.get(key)
            if at is None:
                unseen[key] = count
                buckets[-1] += count
            else:
                buckets[at] = count
        return Current(int(buckets.sum()), missing, counts=buckets, unseen=unseen)
    values = np.sort(cols.numeric_values(column))  # NaN sorts last
    n = int(np.searchsorted(values, np.nan, side="left"))
    return Current(n, len(values) - n, sorted=values[:n])


class Detector:
    """Base class: one method, fitted on a reference feature."""

    method: ClassVar[str]
    kinds: ClassVar[tuple[str, ...]] = (NUMERIC, CATEGORICAL)
    array_kind: ClassVar[str | None] = None
    """the kind an array passed to fit is profiled as (None: inferred from its dtype)"""
    uses_p_value: ClassVar[bool] = False

    def __init__(self, *, min_rows: int = 30) -> None:
        self.min_rows = min_rows

    @property
    def cutoff(self) -> float:
        """alpha for the p-value methods, the statistic's threshold for the others"""
        return float(getattr(self, "alpha" if self.uses_p_value else "threshold"))

    def get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def fit(self, reference: FeatureProfile | Any, *, name: str = "value") -> Self:
        """Learn the reference: a FeatureProfile, or values (numpy, pandas or Arrow)."""
        if not isinstance(reference, FeatureProfile):
            reference = profile_column(name, reference, kind=self.array_kind, sketch_size=None)
        reference = canonical_feature(reference)
        if reference.kind not in self.kinds:
            raise InvalidArgumentError(
                f"{type(self).__name__} ({self.method}) scores {' or '.join(self.kinds)} "
                f"features; {reference.name!r} is {reference.kind}. "
                f"{_alternatives(reference.kind)}",
                field="method",
                value=self.method,
            )
        self.reference_ = reference
        return self

    @property
    def reference(self) -> FeatureProfile:
        fitted = getattr(self, "reference_", None)
        if fitted is None:
            raise NotFoundError(
                f"This {type(self).__name__} is not fitted yet; call fit(reference) first.",
                detector=type(self).__name__,
            )
        return fitted  # type: ignore[no-any-return]

    def score(self, current: Any) -> FeatureDrift:
        """Compare ``current`` values with the fitted reference (uncorrected p-value)."""
        return evaluate(self.reference, current, [self], min_rows=self.min_rows)

    def check(self, reference: FeatureProfile, current: Current) -> DriftCheck:
        """The statistic and verdict on an already-summarized column (enough data on both
        sides)."""
        raise NotImplementedError

    def _verdict(self, statistic: float, p_value: float | None = None) -> DriftCheck:
        if self.uses_p_value:
            assert p_value is not None
            drifted = p_value < self.cutoff
        else:
            drifted = bool(statistic > self.cutoff)
        return DriftCheck(self.method, statistic, p_value, self.cutoff, drifted, p_value)


def _alternatives(kind: str) -> str:
    if kind == CATEGORICAL:
        return (
            "For categorical features use ChiSquaredDetector, PSIDetector or JensenShannonDetector."
        )
    return "For numeric features use KSDetector, WassersteinDetector, PSIDetector or JensenShannonDetector."


class KSDetector(Detector):
    """Two-sample Kolmogorov-Smirnov (numeric): flags when the p-value is below ``alpha``."""

    method = "ks"
    kinds = (NUMERIC,)
    array_kind = NUMERIC
    uses_p_value = True

    def __init__(self, *, alpha: float = 0.05, min_rows: int = 30) -> None:
        super().__init__(min_rows=min_rows)
        self.alpha = alpha

    def check(self, reference: FeatureProfile, current: Current) -> DriftCheck:
        assert current.sorted is not None
        d = stats.ks_statistic(reference, current.sorted)
        d, p = stats.ks_p_value(d, reference.count, current.n)
        return self._verdict(d, p)


class WassersteinDetector(Detector):
    """1-Wasserstein distance (numeric). With ``normalize`` (default) the distance is divided
    by the reference's standard deviation (a constant reference: by |mean|, or 1 at 0), so one
    threshold (0.1 = a tenth of a standard deviation) suits every feature."""

    method = "wasserstein"
    kinds = (NUMERIC,)
    array_kind = NUMERIC

    def __init__(
        self, *, threshold: float = 0.1, normalize: bool = True, min_rows: int = 30
    ) -> None:
        super().__init__(min_rows=min_rows)
        self.threshold = threshold
        self.normalize = normalize

    def check(self, reference: FeatureProfile, current: Current) -> DriftCheck:
        assert current.sorted is not None
        distance = stats.wasserstein(reference, current.sorted)
        if self.normalize:
            distance /= _scale(reference)
        return self._verdict(distance)


def _scale(reference: FeatureProfile) -> float:
    std = reference.summary.get("std") or 0.0
    if std > 0 and np.isfinite(std):
        return float(std)
    mean = abs(reference.summary.get("mean") or 0.0)
    return float(mean) if mean > 0 and np.isfinite(mean) else 1.0


class PSIDetector(Detector):
    """Population stability index over the reference-quantile bins (numeric) or categories
    (categorical, plus the unseen bucket); flags above ``threshold`` (0.2)."""

    method = "psi"

    def __init__(
        self, *, threshold: float = 0.2, epsilon: float = 1e-4, min_rows: int = 30
    ) -> None:
        super().__init__(min_rows=min_rows)
        self.threshold = threshold
        self.epsilon = epsilon

    def check(self, reference: FeatureProfile, current: Current) -> DriftCheck:
        value = stats.psi(reference.bucket_counts(), current.buckets(reference), self.epsilon)
        return self._verdict(value)


class JensenShannonDetector(Detector):
    """Jensen-Shannon distance (base 2, 0..1) between the bucket distributions (categories +
    unseen, or the reference-quantile bins); flags above ``threshold`` (0.1)."""

    method = "js"

    def __init__(self, *, threshold: float = 0.1, min_rows: int = 30) -> None:
        super().__init__(min_rows=min_rows)
        self.threshold = threshold

    def check(self, reference: FeatureProfile, current: Current) -> DriftCheck:
        value = stats.jensen_shannon(reference.bucket_counts(), current.buckets(reference))
        return self._verdict(value)


class ChiSquaredDetector(Detector):
    """Pearson chi-squared test of homogeneity of the category counts (categorical); flags
    when the p-value is below ``alpha``."""

    method = "chi2"
    kinds = (CATEGORICAL,)
    array_kind = CATEGORICAL
    uses_p_value = True

    def __init__(self, *, alpha: float = 0.05, min_rows: int = 30) -> None:
        super().__init__(min_rows=min_rows)
        self.alpha = alpha

    def check(self, reference: FeatureProfile, current: Current) -> DriftCheck:
        statistic, p = stats.chi_squared(reference.bucket_counts(), current.buckets(reference))
        return self._verdict(statistic, p)


# -- one feature, several methods ------------------------------------------------------------
@dataclass(frozen=True)
class Scored:
    """A feature's checks before any multiple-testing correction (``empty`` when it could not
    be tested). ``current`` no longer holds the sorted values."""

    reference: FeatureProfile
    name: str
    current: Current | None
    checks: tuple[DriftCheck, ...] = ()
    empty: FeatureDrift | None = None

    def result(self, correction: str = "none") -> FeatureDrift:
        if self.empty is not None:
            return self.empty
        assert self.current is not None
        return assemble(self.reference, self.name, self.current, self.checks, correction)


def score_column(
    reference: FeatureProfile,
    column: Any,
    detectors: Sequence[Detector],
    *,
    min_rows: int,
    name: str | None = None,
) -> Scored:
    """Summarize ``column`` once and run every detector on it (None: the window lacks it)."""
    name = name or reference.name
    first = detectors[0]
    if column is None:
        empty = unscored(reference, name, first, MISSING_COLUMN, 0, None, _missing_message(name))
        return Scored(reference, name, None, empty=empty)
    current = summarize(reference, column)
    short = _shortage(reference, current, min_rows)
    light = replace(current, sorted=None)
    if short:
        empty = unscored(
            reference, name, first, NOT_ENOUGH_DATA, current.n, current.missing_rate, short
        )
        return Scored(reference, name, light, empty=empty)
    checks = tuple(d.check(reference, current) for d in detectors)
    return Scored(reference, name, light, checks)


def evaluate(
    reference: FeatureProfile,
    column: Any,
    detectors: Sequence[Detector],
    *,
    min_rows: int,
    name: str | None = None,
) -> FeatureDrift:
    """Score one column with each detector, uncorrected."""
    return score_column(reference, column, detectors, min_rows=min_rows, name=name).result()


def _shortage(reference: FeatureProfile, current: Current, min_rows: int) -> str:
    if reference.count < max(min_rows, 1):
        return (
            f"not enough data: the reference has {reference.count} non-missing value(s), "
            f"fewer than min_rows={min_rows}"
        )
    if current.n < max(min_rows, 1):
        return (
            f"not enough data: the window has {current.n} non-missing value(s) "
            f"({current.missing} missing), fewer than min_rows={min_rows}"
        )
    return ""


def _missing_message(name: str) -> str:
    return (
        f"the window has no column {name!r} (nor 'input.{name}'): the model's input is not "
        "logged or was renamed"
    )


def unscored(
    reference: FeatureProfile,
    name: str,
    detector: Detector,
    status: str,
    n_current: int,
    missing_current: float | None,
    message: str,
) -> FeatureDrift:
    """A feature that was not tested (no rows, too few, a missing column): never drifted."""
    return FeatureDrift(
        feature=name,
        kind=reference.kind,
        method=detector.method,
        statistic=None,
        p_value=None,
        threshold=detector.cutoff,
        drifted=False,
        n_reference=reference.count,
        n_current=n_current,
        status=status,
        message=message,
        missing_reference=reference.missing_rate,
        missing_current=missing_current,
    )


def assemble(
    reference: FeatureProfile,
    name: str,
    current: Current,
    checks: tuple[DriftCheck, ...],
    correction: str = "none",
) -> FeatureDrift:
    """The feature's verdict from its checks: drifted if any check is; the deciding check is
    the first that flagged, else the first."""
    main = next((c for c in checks if c.drifted), checks[0])
    return FeatureDrift(
        feature=name,
        kind=reference.kind,
        method=main.method,
        statistic=main.statistic,
        p_value=main.p_value,
        threshold=main.threshold,
        drifted=any(c.drifted for c in checks),
        n_reference=reference.count,
        n_current=current.n,
        status=OK,
        message=message(checks, current, correction),
        p_value_adjusted=main.p_value_adjusted,
        missing_reference=reference.missing_rate,
        missing_current=current.missing_rate,
        checks=checks,
    )


def message(checks: Sequence[DriftCheck], current: Current, correction: str = "none") -> str:
    """e.g. ``ks D=0.084, p=1.2e-05 (holm 3.6e-05) < 0.05: drifted; psi 0.03 <= 0.2``."""
    parts = [_describe(c, correction) for c in checks]
    text = "; ".join(parts)
    if current.unseen:
        count = sum(current.unseen.values())
        top = sorted(current.unseen.items(), key=lambda kv: -kv[1])[:3]
        names = ", ".join(repr(k) for k, _ in top) + (", ..." if len(current.unseen) > 3 else "")
        text += (
            f"; {count} value(s) ({count / max(current.n, 1):.1%}) in {len(current.unseen)} "
            f"categor{'y' if len(current.unseen) == 1 else 'ies'} never seen in training: {names}"
        )
    return text


_STAT = {"ks": "D", "chi2": "chi2", "psi": "PSI", "js": "JS", "wasserstein": "W"}


def _describe(check: DriftCheck, correction: str) -> str:
    stat = f"{check.method} {_STAT.get(check.method, 'stat')}={check.statistic:.4g}"
    verdict = "drifted" if check.drifted else "no drift"
    if check.p_value is None:
        sign = ">" if check.drifted else "<="
        return f"{stat} {sign} {check.threshold:g}: {verdict}"
    p = f"p={check.p_value:.3g}"
    if correction != "none" and check.p_value_adjusted is not None:
        p += f" ({correction} {check.p_value_adjusted:.3g})"
    sign = "<" if check.drifted else ">="
    return f"{stat}, {p} {sign} alpha {check.threshold:g}: {verdict}"
