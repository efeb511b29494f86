"""Model-quality metrics on labelled rows (scikit-learn underneath), None when undefined.

A metric that cannot be computed on the rows at hand (ROC AUC with a single class among the
labels, R² of one row, a score metric without probabilities) is None with a note saying why,
never an exception: a monitor reports it and moves on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Scores", "is_classification", "positive_class", "score_metrics"]

_SCORE_METRICS = {"roc_auc", "average_precision", "log_loss"}
_REGRESSION = {"rmse", "mae", "r2"}


@dataclass
class Scores:
    values: dict[str, float | None] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def is_classification(y_pred: np.ndarray, score: np.ndarray | None) -> bool:
    """Text predictions, probabilities, or few integral values: a classifier."""
    if y_pred.dtype.kind in "OUSb":
        return True
    if score is not None and np.isfinite(score).any():
        return True
    finite = y_pred[np.isfinite(y_pred)] if y_pred.dtype.kind == "f" else y_pred
    return (
        bool(len(finite))
        and bool(np.all(finite == np.round(finite)))
        and (len(np.unique(finite)) <= 20)
    )


def positive_class(classes: Sequence[Any]) -> Any:
    """The class a binary score is the probability of: 1 for 0/1 labels, else the last in sorted
    order (scikit-learn's ``classes_[1]``)."""
    ordered = sorted(classes)
    if all(isinstance(c, (int, float, np.number)) for c in ordered) and set(ordered) <= {0, 1}:
        return 1 if isinstance(ordered[0], (int, np.integer)) else 1.0
    return ordered[-1]


def score_metrics(
    names: Sequence[str],
    y_true: np.ndarray,
    y_pred: np.ndarray,
    score: np.ndarray | None = None,
    *,
    classification: bool | None = None,
) -> Scores:
    """Each metric in ``names`` on these rows. ``score``: the positive-class probability."""
    out = Scores()
    if len(y_true) == 0:
        for name in names:
            out.values[name], out.notes[name] = None, "no labelled rows"
        return out
    if classification is None:
        classification = is_classification(y_pred, score)
    for name in names:
        try:
            value, note = _one(name, y_true, y_pred, score, classification)
        except ValueError as exc:  # sklearn refuses degenerate input
            value, note = None, str(exc).splitlines()[0]
        if value is not None and not math.isfinite(value):
            value, note = None, note or "undefined on these rows"
        out.values[name] = value
        if note:
            out.notes[name] = note
    return out


def _one(
    name: str,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    score: np.ndarray | None,
    classification: bool,
) -> tuple[float | None, str]:
    import sklearn.metrics as skm

    if name in _REGRESSION:
        if classification:
            return None, f"{name} is a regression metric and this model is a classifier"
        if name == "r2" and len(y_true) < 2:
            return None, "r2 needs at least 2 rows"
        if name == "rmse":
            return math.sqrt(float(skm.mean_squared_error(y_true, y_pred))), ""
        if name == "mae":
            return float(skm.mean_absolute_error(y_true, y_pred)), ""
        return float(skm.r2_score(y_true, y_pred)), ""
    if not classification:
        return None, f"{name} is a classification metric and this model is a regressor"
    classes = sorted(set(np.unique(y_true).tolist()) | set(np.unique(y_pred).tolist()))
    binary = len(classes) <= 2
    if name in _SCORE_METRICS:
        return _score_metric(name, y_true, score, classes, binary)
    if name == "accuracy":
        return float(skm.accuracy_score(y_true, y_pred)), ""
    fn = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[name]
    if binary:
        pos = positive_class(classes)
        return float(fn(y_true, y_pred, pos_label=pos, average="binary", zero_division=0)), ""
    return float(fn(y_true, y_pred, average="macro", zero_division=0)), "macro average"


def _score_metric(
    name: str, y_true: np.ndarray, score: np.ndarray | None, classes: list[Any], binary: bool
) -> tuple[float | None, str]:
    import sklearn.metrics as skm

    if score is None or not np.isfinite(score).all():
        return None, f"{name} needs the positive-class probability of every row"
    if not binary:
        return None, f"{name} is computed for binary classifiers only"
    pos = positive_class(classes)
    truth = np.asarray(y_true == pos, dtype=int)
    if name == "log_loss":
        return float(skm.log_loss(truth, score, labels=[0, 1])), ""
    if truth.min() == truth.max():
        return None, f"{name} needs both classes among the labels"
    if name == "roc_auc":
        return float(skm.roc_auc_score(truth, score)), ""
    return float(skm.average_precision_score(truth, score)), ""
