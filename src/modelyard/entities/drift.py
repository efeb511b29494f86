"""Drift values: a reference profile of training data, and the result of a drift check.

A :class:`Profile` is what monitoring compares production traffic against. Per feature it
keeps a :class:`FeatureProfile`: missing count, summary statistics, reference-quantile bins
(for PSI and Jensen-Shannon), category frequencies, and a *sketch* of the sorted values for the
exact tests (Kolmogorov-Smirnov, Wasserstein):

- when the column has at most ``sketch_size`` distinct values, the sketch is every distinct
  value with the exact count of values ``<=`` it (``exact``): the tests equal scipy's;
- otherwise it is ``sketch_size`` evenly spaced order statistics (ranks ``ceil(j*n/K)``), again
  with exact counts, so the reference CDF read from it is within ``1/K`` of the true one
  everywhere: the KS statistic is within ``1/K`` of scipy's, the Wasserstein distance within
  ``(max - min)/K``. P-values always use the true reference count.

Profiles serialize to JSON (:meth:`Profile.to_bytes`); arrays are stored as base64 of their
little-endian bytes (exact, and ten times faster to read than JSON numbers). Never pickle.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "CATEGORICAL",
    "DATETIME",
    "KINDS",
    "MISSING_COLUMN",
    "NOT_ENOUGH_DATA",
    "NO_REFERENCE",
    "NUMERIC",
    "OK",
    "PROFILE_FORMAT",
    "DriftCheck",
    "DriftReport",
    "FeatureDrift",
    "FeatureProfile",
    "Profile",
    "json_number",
]

NUMERIC, CATEGORICAL, DATETIME = "numeric", "categorical", "datetime"
KINDS = (NUMERIC, CATEGORICAL, DATETIME)
"""``datetime`` features are profiled (as epoch seconds) but left out of drift checks by default:
time always moves forward, so a test on it would always flag."""

OK, NOT_ENOUGH_DATA, MISSING_COLUMN, NO_REFERENCE = (
    "ok",
    "not_enough_data",
    "missing_column",
    "no_reference",
)
PROFILE_FORMAT = "modelyard.profile/1"

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def json_number(value: float | None) -> float | str | None:
    """A float for JSON: finite floats as they are, inf / -inf / nan as strings."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else str(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _encode(array: np.ndarray) -> dict[str, Any]:
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return {"dtype": little.dtype.str, "b64": base64.b64encode(little.tobytes()).decode()}


def _decode(data: Mapping[str, Any], dtype: type) -> np.ndarray:
    stored = np.dtype(data["dtype"])
    if stored.kind not in "fiu":  # numbers only: never objects from a file
        raise ValueError(f"array dtype {data['dtype']!r} is not a number type")
    raw = np.frombuffer(base64.b64decode(data["b64"], validate=True), dtype=stored)
    out: np.ndarray = raw.astype(dtype)  # a copy in native order, detached from the buffer
    out.flags.writeable = False
    return out


def _frozen(array: Any, dtype: type) -> np.ndarray:
    out: np.ndarray = np.array(array, dtype=dtype)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, eq=False)
class FeatureProfile:
    """One column of the reference data (see the module docstring for the sketch)."""

    name: str
    kind: str
    """numeric, categorical or datetime"""
    dtype: str
    """what the column held: integer, float, boolean, string, category or datetime"""
    count: int
    """non-missing values"""
    missing: int
    summary: Mapping[str, float | None] = field(default_factory=dict)
    """numeric: mean, std (population), min, max, p01 p05 p25 p50 p75 p95 p99;
    categorical: n_categories (distinct values seen)"""
    bin_edges: FloatArray = field(default_factory=lambda: _frozen([], np.float64))
    """interior edges of the reference-quantile bins (-inf, e1], (e1, e2], ..., (ek, inf)"""
    bin_counts: IntArray = field(default_factory=lambda: _frozen([], np.int64))
    sketch_values: FloatArray = field(default_factory=lambda: _frozen([], np.float64))
    """sorted distinct values (all of them when ``sketch_exact``, else order statistics)"""
    sketch_cum: IntArray = field(default_factory=lambda: _frozen([], np.int64))
    """exact number of reference values <= each sketch value"""
    sketch_exact: bool = True
    categories: tuple[str, ...] = ()
    """the most frequent categories (all of them up to a limit), most frequent first"""
    category_counts: IntArray = field(default_factory=lambda: _frozen([], np.int64))
    other_count: int = 0
    """values of categories beyond the kept ones"""

    @property
    def rows(self) -> int:
        return self.count + self.missing

    @property
    def missing_rate(self) -> float:
        return self.missing / self.rows if self.rows else 0.0

    def frequencies(self) -> dict[str, float]:
        """Category -> share of the non-missing values (categorical features)."""
        total = self.count or 1
        return {c: int(n) / total for c, n in zip(self.categories, self.category_counts)}

    def bucket_counts(self) -> IntArray:
        """Counts per bucket as the tests see them: the numeric bins, or each kept category and
        a last bucket for every other category (those beyond the limit, and unseen ones)."""
        if self.kind == CATEGORICAL:
            return np.append(self.category_counts, self.other_count).astype(np.int64)
        return np.asarray(self.bin_counts, dtype=np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "dtype": self.dtype,
            "count": self.count,
            "missing": self.missing,
            "summary": {k: json_number(v) for k, v in self.summary.items()},
            "bin_edges": _encode(self.bin_edges),
            "bin_counts": _encode(self.bin_counts),
            "sketch_values": _encode(self.sketch_values),
            "sketch_cum": _encode(self.sketch_cum),
            "sketch_exact": self.sketch_exact,
            "categories": list(self.categories),
            "category_counts": [int(c) for c in self.category_counts],
            "other_count": self.other_count,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureProfile:
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            dtype=str(data["dtype"]),
            count=int(data["count"]),
            missing=int(data["missing"]),
            summary={k: _float(v) for k, v in data.get("summary", {}).items()},
            bin_edges=_decode(data["bin_edges"], np.float64),
            bin_counts=_decode(data["bin_counts"], np.int64),
            sketch_values=_decode(data["sketch_values"], np.float64),
            sketch_cum=_decode(data["sketch_cum"], np.int64),
            sketch_exact=bool(data["sketch_exact"]),
            categories=tuple(str(c) for c in data.get("categories", [])),
            category_counts=_frozen(data.get("category_counts", []), np.int64),
            other_count=int(data.get("other_count", 0)),
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FeatureProfile) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, eq=False)
class Profile:
    """The reference profile of a model version: its training inputs and its predictions.

    ``predictions.name`` is the prediction-log column it describes: ``proba`` (the positive
    class's probability) or ``prediction`` (predicted values or labels).
    """

    n_rows: int
    features: Mapping[str, FeatureProfile]
    predictions: FeatureProfile | None = None
    created_at: int = 0
    """epoch milliseconds"""
    sketch_size: int = 10_000
    bins: int = 10

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PROFILE_FORMAT,
            "n_rows": self.n_rows,
            "created_at": self.created_at,
            "sketch_size": self.sketch_size,
            "bins": self.bins,
            "features": [f.to_dict() for f in self.features.values()],
            "predictions": self.predictions.to_dict() if self.predictions else None,
        }

    def to_bytes(self) -> bytes:
        """UTF-8 JSON (no pickle); :meth:`from_bytes` reads it back exactly."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False).encode()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        if data.get("format") != PROFILE_FORMAT:
            raise ValueError(
                f"not a {PROFILE_FORMAT} document (format {data.get('format')!r}); it was "
                "written by another modelyard version or is not a profile"
            )
        features = [FeatureProfile.from_dict(f) for f in data["features"]]
        preds = data.get("predictions")
        return cls(
            n_rows=int(data["n_rows"]),
            features={f.name: f for f in features},
            predictions=FeatureProfile.from_dict(preds) if preds else None,
            created_at=int(data.get("created_at", 0)),
            sketch_size=int(data.get("sketch_size", 10_000)),
            bins=int(data.get("bins", 10)),
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Profile:
        """Parse :meth:`to_bytes` output; anything else raises ValueError saying what is wrong."""
        try:
            parsed = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a profile: invalid JSON ({exc})") from exc
        if not isinstance(parsed, dict):
            raise ValueError("not a profile: the JSON document is not an object")
        try:
            return cls.from_dict(parsed)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a valid profile: {exc}") from exc

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Profile) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


# -- drift results ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DriftCheck:
    """One method's verdict on one feature. P-value methods (ks, chi2) compare the adjusted
    p-value with ``threshold`` (alpha); distance methods (psi, js, wasserstein) the statistic."""

    method: str
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool
    p_value_adjusted: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "statistic": json_number(self.statistic),
            "p_value": json_number(self.p_value),
            "p_value_adjusted": json_number(self.p_value_adjusted),
            "threshold": json_number(self.threshold),
            "drifted": self.drifted,
        }


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    """The drift verdict on one feature (or on the predictions).

    ``method`` / ``statistic`` / ``p_value`` / ``threshold`` are those of the deciding check
    (the first that flagged drift, else the first); ``checks`` holds every method's result.
    ``status`` is ``ok``, ``not_enough_data`` (fewer than ``min_rows`` non-missing values on a
    side: never drifted), ``missing_column`` (the window lacks the feature) or
    ``no_reference`` (the profile has nothing to compare with).
    """

    feature: str
    kind: str
    method: str
    statistic: float | None
    p_value: float | None
    threshold: float
    drifted: bool
    n_reference: int
    n_current: int
    status: str
    message: str
    p_value_adjusted: float | None = None
    missing_reference: float = 0.0
    """share of reference rows with no value"""
    missing_current: float | None = None
    checks: tuple[DriftCheck, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "kind": self.kind,
            "method": self.method,
            "statistic": json_number(self.statistic),
            "p_value": json_number(self.p_value),
            "p_value_adjusted": json_number(self.p_value_adjusted),
            "threshold": json_number(self.threshold),
            "drifted": self.drifted,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "status": self.status,
            "message": self.message,
            "missing_reference": json_number(self.missing_reference),
            "missing_current": json_number(self.missing_current),
            "checks": [c.to_dict() for c in self.checks],
        }


@dataclass(frozen=True, slots=True)
class DriftReport:
    """Drift of a window against a profile: per feature, the dataset, and the predictions.

    ``drift_share`` is the share of tested features (status ``ok``) that drifted;
    ``dataset_drift`` is true when it reaches ``drift_share_threshold``. ``status`` is
    ``not_enough_data`` when no feature could be tested.
    """

    features: list[FeatureDrift]
    drifted_features: list[str]
    drift_share: float
    dataset_drift: bool
    prediction_drift: FeatureDrift | None
    correction: str
    alpha: float
    drift_share_threshold: float = 0.5
    n_current: int = 0
    status: str = OK
    methods: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @property
    def n_tested(self) -> int:
        return sum(1 for f in self.features if f.status == OK)

    def feature(self, name: str) -> FeatureDrift:
        for f in self.features:
            if f.feature == name:
                return f
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "dataset_drift": self.dataset_drift,
            "drift_share": json_number(self.drift_share),
            "drift_share_threshold": json_number(self.drift_share_threshold),
            "drifted_features": list(self.drifted_features),
            "n_tested": self.n_tested,
            "n_current": self.n_current,
            "correction": self.correction,
            "alpha": json_number(self.alpha),
            "methods": {k: list(v) for k, v in self.methods.items()},
            "features": [f.to_dict() for f in self.features],
            "prediction_drift": self.prediction_drift.to_dict() if self.prediction_drift else None,
        }
