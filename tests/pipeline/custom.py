"""User code named by import path in the pipeline tests' specs."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin


def log_amount(frame: pd.DataFrame, column: str = "amount") -> pd.DataFrame:
    """A custom feature function: adds log1p(amount)."""
    out = frame.copy()
    out[f"log_{column}"] = np.log1p(out[column].astype(float))
    return out


def top_decile_precision(y_true: np.ndarray, score: np.ndarray) -> float:
    """A custom metric: the fraud rate among the 10 % highest scores."""
    cut = np.quantile(score, 0.9)
    chosen = np.asarray(y_true)[np.asarray(score) >= cut]
    return float(chosen.mean()) if len(chosen) else 0.0


NOT_CALLABLE = 3


class AmountRule(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A custom estimator by import path (scikit-learn compatible): a logistic model on the
    transformed features."""

    def __init__(self, C: float = 1.0) -> None:
        self.C = C

    def fit(
        self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> AmountRule:
        from sklearn.linear_model import LogisticRegression

        self.inner_ = LogisticRegression(C=self.C, max_iter=500).fit(
            X, y, sample_weight=sample_weight
        )
        self.classes_ = self.inner_.classes_
        self.fit_weights_ = None if sample_weight is None else np.asarray(sample_weight)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.inner_.predict_proba(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)])
