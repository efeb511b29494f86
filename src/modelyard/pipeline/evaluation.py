"""Evaluation: metrics on the held-out rows, cross-validation, and plots.

Plots are drawn on matplotlib ``Figure`` objects (no pyplot global state, no display needed)
and saved as PNG: confusion matrix, ROC and precision-recall curves for classifiers,
predicted-vs-actual for regressors. matplotlib is imported only here, only when plotting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelyard.errors import DependencyMissingError
from modelyard.pipeline.metrics import MetricDef, Predictions, predict, score_all
from modelyard.pipeline.splits import cv_folds

__all__ = ["cross_validate", "plot_all", "predict", "score_all"]


def cross_validate(
    make_model: Callable[[], Any],
    X: pd.DataFrame,
    y: pd.Series,
    metrics: Sequence[MetricDef],
    *,
    method: str,
    folds: int,
    timestamps: pd.Series | None,
    seed: int,
    threshold: float,
    fit_kwargs: Callable[[pd.Series], dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """metric -> {mean, std, folds: [...]} over the folds of the training rows."""
    per_fold: dict[str, list[float]] = {m.name: [] for m in metrics}
    for train, valid in cv_folds(method, folds, y=y, timestamps=timestamps, seed=seed):
        model = make_model()
        y_train = y.iloc[train]
        model.fit(X.iloc[train], y_train, **fit_kwargs(y_train))
        preds = predict(model, X.iloc[valid], y.iloc[valid], threshold)
        for name, value in _safe_scores(metrics, preds).items():
            per_fold[name].append(value)
    return {
        name: {
            "mean": float(np.nanmean(values)) if values else float("nan"),
            "std": float(np.nanstd(values)) if values else float("nan"),
            "folds": values,
        }
        for name, values in per_fold.items()
    }


def _safe_scores(metrics: Sequence[MetricDef], preds: Predictions) -> dict[str, float]:
    """Scores of one fold; a metric undefined on it (one class in a time-series fold) is NaN."""
    out = {}
    for m in metrics:
        try:
            out[m.name] = m(preds)
        except ValueError:
            out[m.name] = float("nan")
    return out


def _figure() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise DependencyMissingError.for_extra("matplotlib", "pipeline") from exc
    fig = Figure(figsize=(5.5, 4.5), dpi=100)
    return fig, fig.subplots()


def plot_all(preds: Predictions, out_dir: Path, *, title: str) -> list[Path]:
    """Save the plots that fit the task under ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if preds.classes is None:
        return [_predicted_vs_actual(preds, out_dir, title)]
    paths = [_confusion(preds, out_dir, title)]
    if preds.binary and preds.proba is not None:
        paths += [_curve(preds, out_dir, title, "roc"), _curve(preds, out_dir, title, "pr")]
    return paths


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def _confusion(preds: Predictions, out_dir: Path, title: str) -> Path:
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = _figure()
    ConfusionMatrixDisplay.from_predictions(
        preds.y_true, preds.labels, labels=preds.classes, ax=ax, colorbar=False, cmap="Blues"
    )
    ax.set_title(f"{title}: confusion matrix (test rows)")
    return _save(fig, out_dir / "confusion_matrix.png")


def _curve(preds: Predictions, out_dir: Path, title: str, kind: str) -> Path:
    """The ROC (``kind='roc'``) or precision-recall curve of the positive class."""
    from sklearn.metrics import PrecisionRecallDisplay, RocCurveDisplay

    fig, ax = _figure()
    assert preds.classes is not None
    positive = preds.classes[1]
    display = RocCurveDisplay if kind == "roc" else PrecisionRecallDisplay
    display.from_predictions(preds.y_true, preds.score, pos_label=positive, ax=ax, name="model")
    if kind == "roc":
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
        ax.set_title(f"{title}: ROC curve (test rows)")
        return _save(fig, out_dir / "roc_curve.png")
    prevalence = float(np.mean(np.asarray(preds.y_true) == positive))
    ax.axhline(prevalence, linestyle="--", color="grey", linewidth=1, label="base rate")
    ax.set_title(f"{title}: precision-recall (test rows)")
    return _save(fig, out_dir / "pr_curve.png")


def _predicted_vs_actual(preds: Predictions, out_dir: Path, title: str) -> Path:
    fig, ax = _figure()
    y, p = np.asarray(preds.y_true, dtype=float), np.asarray(preds.labels, dtype=float)
    ax.scatter(y, p, s=6, alpha=0.4)
    lo, hi = float(np.nanmin([y.min(), p.min()])), float(np.nanmax([y.max(), p.max()]))
    ax.plot([lo, hi], [lo, hi], linestyle="--", color="grey", linewidth=1)
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.set_title(f"{title}: predicted vs actual (test rows)")
    return _save(fig, out_dir / "predicted_vs_actual.png")
