"""Building reference profiles from training data (see ``entities/drift.py`` for what is kept).

One sort per numeric column gives everything: summary statistics, the quantile bins and the
sketch. Columns are profiled in a small thread pool (numpy releases the GIL while sorting).
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np

from modelyard.entities import now_ms
from modelyard.entities.drift import (
    CATEGORICAL,
    DATETIME,
    KINDS,
    NUMERIC,
    FeatureProfile,
    Profile,
)
from modelyard.errors import InvalidArgumentError, suggest
from modelyard.monitoring import columns as cols

__all__ = [
    "BINS",
    "MAX_CATEGORIES",
    "SKETCH_SIZE",
    "build_profile",
    "canonical_feature",
    "canonical_profile",
    "default_workers",
    "profile_column",
]

SKETCH_SIZE = 10_000
"""K: a numeric column with at most K distinct values is kept exactly; above that, K order
statistics (KS within 1/K of the exact statistic)."""
BINS = 10
"""reference-quantile bins for PSI and Jensen-Shannon on numeric features"""
MAX_CATEGORIES = 1_000
"""categories kept per feature (most frequent first); the rest are counted together"""
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def default_workers(n_columns: int) -> int:
    import os

    return max(1, min(4, os.cpu_count() or 1, n_columns))


def build_profile(
    data: Any,
    *,
    predictions: Any = None,
    categorical: Iterable[str] | None = None,
    prediction_column: str = "prediction",
    prediction_kind: str | None = None,
    sketch_size: int = SKETCH_SIZE,
    bins: int = BINS,
    workers: int | None = None,
) -> Profile:
    """Profile every column of ``data`` (a pandas DataFrame or pyarrow Table of model inputs).

    Kinds are inferred: integers and floats are numeric; booleans, strings and categories are
    categorical; timestamps are datetime. ``categorical`` names columns to treat as categories
    (integer codes). ``predictions`` (predicted values, labels, or positive-class
    probabilities) is profiled as the log column ``prediction_column`` (``prediction`` or
    ``proba``); its kind is numeric for floats, else categorical, unless ``prediction_kind``
    says. A prediction-log window works too: its ``input.*`` columns are the features and its
    ``prediction_column`` the predictions.
    """
    frame = cols.as_frame(data, "data")
    mapping = cols.feature_columns(frame)
    if not mapping:
        raise InvalidArgumentError("Cannot profile data with no columns.", field="data")
    rows = cols.n_rows(frame)
    if rows == 0:
        raise InvalidArgumentError(
            "Cannot profile data with no rows; pass the training inputs the model was fit on.",
            field="data",
        )
    _check_sizes(sketch_size, bins)
    forced = _forced_categorical(categorical, mapping)
    names = cols.column_names(frame)
    is_log = names != list(mapping.values())
    if predictions is None and is_log and prediction_column in names:
        predictions = cols.get(frame, prediction_column)  # a log window's own predictions

    def one(name: str) -> FeatureProfile:
        column = cols.get(frame, mapping[name])
        kind = CATEGORICAL if name in forced else None
        return profile_column(name, column, kind=kind, sketch_size=sketch_size, bins=bins)

    n_workers = workers or default_workers(len(mapping))
    if n_workers > 1:
        with ThreadPoolExecutor(n_workers) as pool:
            features = list(pool.map(one, mapping))
    else:
        features = [one(n) for n in mapping]
    return Profile(
        n_rows=rows,
        features={f.name: f for f in features},
        predictions=_predictions(
            predictions, prediction_column, prediction_kind, sketch_size, bins
        ),
        created_at=now_ms(),
        sketch_size=sketch_size,
        bins=bins,
    )


def _check_sizes(sketch_size: int | None, bins: int) -> None:
    if sketch_size is not None and sketch_size < 2:
        raise InvalidArgumentError(
            f"sketch_size must be at least 2, not {sketch_size}.", field="sketch_size"
        )
    if bins < 2:
        raise InvalidArgumentError(f"bins must be at least 2, not {bins}.", field="bins")


def _forced_categorical(categorical: Iterable[str] | None, mapping: dict[str, str]) -> set[str]:
    if categorical is None:
        return set()
    if isinstance(categorical, str):
        categorical = [categorical]
    forced = set(categorical)
    unknown = sorted(forced - set(mapping))
    if unknown:
        raise InvalidArgumentError(
            f"categorical names column {unknown[0]!r}, which the data does not have"
            f"{suggest(unknown[0], list(mapping))}; columns: {', '.join(mapping)}.",
            field="categorical",
            value=unknown[0],
        )
    return forced


def _predictions(
    predictions: Any, column: str, kind: str | None, sketch_size: int, bins: int
) -> FeatureProfile | None:
    if predictions is None:
        return None
    if column not in ("prediction", "proba"):
        raise InvalidArgumentError(
            f"prediction_column must be 'prediction' or 'proba' (a prediction-log column), "
            f"not {column!r}.",
            field="prediction_column",
            value=column,
        )
    values = predictions if hasattr(predictions, "dtype") else np.asarray(predictions)
    if getattr(values, "ndim", 1) != 1:
        raise InvalidArgumentError(
            f"predictions must be one value per row (shape {values.shape}); for class "
            "probabilities pass the positive class's column with prediction_column='proba'.",
            field="predictions",
        )
    if kind is None:
        dtype = cols.value_dtype(values)
        kind = NUMERIC if dtype == "float" else CATEGORICAL
    return profile_column(column, values, kind=kind, sketch_size=sketch_size, bins=bins)


def profile_column(
    name: str,
    column: Any,
    *,
    kind: str | None = None,
    sketch_size: int | None = SKETCH_SIZE,
    bins: int = BINS,
) -> FeatureProfile:
    """Profile one column (pandas Series, pyarrow array or numpy array). ``sketch_size=None``
    keeps every distinct value (an exact sketch at any size)."""
    column = cols.as_values(column)
    inferred, dtype = cols.infer_kind(column)
    kind = kind or inferred
    if kind not in KINDS:
        raise InvalidArgumentError(
            f"Unknown feature kind {kind!r} for {name!r}; use one of {', '.join(KINDS)}.",
            field="kind",
            value=kind,
        )
    _check_sizes(sketch_size, bins)
    if kind == CATEGORICAL:
        return _categorical(name, dtype, column)
    return _numeric(name, kind, dtype, cols.numeric_values(column), sketch_size, bins)


def _categorical(name: str, dtype: str, column: Any) -> FeatureProfile:
    counts, missing = cols.category_counts(column)
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = ordered[:MAX_CATEGORIES]
    return FeatureProfile(
        name=name,
        kind=CATEGORICAL,
        dtype=dtype,
        count=sum(counts.values()),
        missing=missing,
        summary={"n_categories": float(len(counts))},
        categories=tuple(k for k, _ in kept),
        category_counts=_frozen(np.array([c for _, c in kept], dtype=np.int64)),
        other_count=sum(c for _, c in ordered[MAX_CATEGORIES:]),
    )


def _numeric(
    name: str, kind: str, dtype: str, values: np.ndarray, sketch_size: int | None, bins: int
) -> FeatureProfile:
    ordered = np.sort(values)  # NaN sorts last
    n = int(np.searchsorted(ordered, np.nan, side="left"))
    ordered = ordered[:n]
    sketch, cum, exact = _sketch(ordered, sketch_size)
    edges, counts = _bins(sketch, cum, n, bins)
    return FeatureProfile(
        name=name,
        kind=kind if kind == DATETIME else NUMERIC,
        dtype=dtype,
        count=n,
        missing=len(values) - n,
        summary=_summary(ordered),
        bin_edges=_frozen(edges),
        bin_counts=_frozen(counts),
        sketch_values=_frozen(sketch),
        sketch_cum=_frozen(cum),
        sketch_exact=exact,
    )


def _sketch(ordered: np.ndarray, size: int | None) -> tuple[np.ndarray, np.ndarray, bool]:
    """(distinct values, count of values <= each, exact?) of sorted non-missing values."""
    n = len(ordered)
    if n == 0:
        return np.empty(0), np.empty(0, dtype=np.int64), True
    last = np.flatnonzero(ordered[1:] != ordered[:-1])  # index of the last of each run
    if size is None or len(last) + 1 <= size:
        ends = np.append(last, n - 1)
        return ordered[ends], (ends + 1).astype(np.int64), True
    # K order statistics at ranks ceil(j*n/K), plus the minimum; counts stay exact
    ranks = np.ceil(np.arange(1, size + 1) * (n / size)).astype(np.int64)
    values = np.unique(np.append(ordered[0], ordered[np.clip(ranks, 1, n) - 1]))
    return values, np.searchsorted(ordered, values, side="right").astype(np.int64), False


def _bins(sketch: np.ndarray, cum: np.ndarray, n: int, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Interior edges at the reference quantiles i/bins (inverted CDF, so each edge is a sketch
    value and the counts per bin are exact), and the reference count in each bin."""
    if n == 0:
        return np.empty(0), np.zeros(1, dtype=np.int64)
    if len(sketch) == 1:  # a constant: one bin around it, so a move either way shows
        return np.array([np.nextafter(sketch[0], -np.inf), sketch[0]]), np.array([0, n, 0])
    targets = np.arange(1, bins) * (n / bins)
    at = np.minimum(np.searchsorted(cum, targets, side="left"), len(sketch) - 1)
    at = np.unique(at)
    at = at[at < len(sketch) - 1]  # the maximum as an edge would leave an empty last bin
    below = np.concatenate([[0], cum[at], [n]])
    return sketch[at], np.diff(below).astype(np.int64)


def _summary(ordered: np.ndarray) -> dict[str, float | None]:
    if len(ordered) == 0:
        return dict.fromkeys(("mean", "std", "min", "max", *_qnames()))
    with np.errstate(all="ignore"):
        out: dict[str, float | None] = {
            "mean": float(np.mean(ordered)),
            "std": float(np.std(ordered)),
            "min": float(ordered[0]),
            "max": float(ordered[-1]),
        }
        quantiles = np.quantile(ordered, QUANTILES)
    out.update({k: float(v) for k, v in zip(_qnames(), quantiles)})
    return out


def canonical_feature(feature: FeatureProfile) -> FeatureProfile:
    """``feature`` with its categories keyed as :func:`columns.canonical` keys them now (a
    profile saved by an older version keyed booleans as "True" / "False"); itself when they
    already are. Categories that now share a key are merged."""
    if feature.kind != CATEGORICAL:
        return feature
    keys = [cols.canonical(c) or str(c) for c in feature.categories]
    if keys == list(feature.categories):
        return feature
    merged: dict[str, int] = {}
    for key, count in zip(keys, feature.category_counts.tolist()):
        merged[key] = merged.get(key, 0) + int(count)
    ordered = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))
    summary = dict(feature.summary)
    if summary.get("n_categories") is not None:
        summary["n_categories"] = float(summary["n_categories"] or 0) - (len(keys) - len(merged))
    return replace(
        feature,
        categories=tuple(k for k, _ in ordered),
        category_counts=_frozen(np.array([n for _, n in ordered], dtype=np.int64)),
        summary=summary,
    )


def canonical_profile(profile: Profile) -> Profile:
    """``profile`` with every categorical feature re-keyed by :func:`canonical_feature`."""
    features = {name: canonical_feature(f) for name, f in profile.features.items()}
    predictions = canonical_feature(profile.predictions) if profile.predictions else None
    unchanged = all(features[n] is f for n, f in profile.features.items())
    if unchanged and predictions is profile.predictions:
        return profile
    return replace(profile, features=features, predictions=predictions)


def _qnames() -> list[str]:
    return [f"p{round(q * 100):02d}" for q in QUANTILES]


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array
