"""Small scikit-learn transformers the pipeline puts in every saved model.

They hold only plain data (column names, part names), so skops rebuilds them safely; they are
on the sklearn flavor's list of safe types (``flavors/sklearn.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

__all__ = ["AsDtype", "DatetimeParts"]


class AsDtype(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Columns as float64 (``kind='float'``) or as Python str objects (``kind='text'``), with
    every kind of missing value (None, pd.NA, NaT) as ``np.nan``, which scikit-learn's imputers
    and encoders understand whatever dtype the caller sends (pandas strings, categoricals, ...).
    """

    def __init__(self, kind: str = "float") -> None:
        self.kind = kind

    def fit(self, X: Any, y: Any = None) -> AsDtype:
        self.n_features_in_ = X.shape[1]
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        return self

    def transform(self, X: Any) -> Any:
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        out = {}
        for col in frame.columns:
            series = frame[col]
            if self.kind == "float":
                out[col] = pd.to_numeric(series, errors="coerce").astype("float64")
            else:
                text = series.astype(object)
                missing = series.isna().to_numpy()
                out[col] = np.where(missing, np.nan, text.astype(str)).astype(object)
        return pd.DataFrame(out, index=frame.index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names = input_features if input_features is not None else self.feature_names_in_
        return np.asarray(names, dtype=object)


_PARTS = {
    "year": lambda s: s.dt.year,
    "month": lambda s: s.dt.month,
    "day": lambda s: s.dt.day,
    "dayofweek": lambda s: s.dt.day_of_week,
    "dayofyear": lambda s: s.dt.day_of_year,
    "hour": lambda s: s.dt.hour,
    "minute": lambda s: s.dt.minute,
    "is_weekend": lambda s: s.dt.day_of_week >= 5,
}


class DatetimeParts(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Each datetime column becomes numeric parts (hour, day of week, ...); NaT becomes NaN."""

    def __init__(self, parts: tuple[str, ...] = ("hour", "dayofweek")) -> None:
        self.parts = parts

    def fit(self, X: Any, y: Any = None) -> DatetimeParts:
        unknown = [p for p in self.parts if p not in _PARTS]
        if unknown:
            raise ValueError(f"unknown datetime parts {unknown}; known: {list(_PARTS)}")
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        return self

    def transform(self, X: Any) -> Any:
        out = {}
        for col in X.columns:
            series = pd.to_datetime(X[col], errors="coerce")
            for part in self.parts:
                out[f"{col}_{part}"] = _PARTS[part](series).astype("float64")
        return pd.DataFrame(out, index=X.index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        cols = input_features if input_features is not None else self.feature_names_in_
        return np.asarray([f"{c}_{p}" for c in cols for p in self.parts], dtype=object)
