"""Evaluation metrics by name (scikit-learn underneath), and custom ones by import path.

A metric knows its task, whether it reads labels or scores, and which way is better; the names
LightGBM and XGBoost use for it let tuning prune trials on the same quantity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelyard.errors import InvalidArgumentError, suggest
from modelyard.pipeline.imports import import_object
from modelyard.pipeline.spec import CustomMetric

__all__ = [
    "METRICS",
    "DEFAULT_METRICS",
    "MetricDef",
    "Predictions",
    "predict",
    "resolve_metrics",
    "score_all",
]


@dataclass(frozen=True)
class Predictions:
    """What a model said about some rows: labels, and for classifiers the class probabilities."""

    y_true: np.ndarray
    labels: np.ndarray
    proba: np.ndarray | None = None
    classes: Sequence[Any] | None = None

    @property
    def binary(self) -> bool:
        return self.classes is not None and len(self.classes) == 2

    @property
    def score(self) -> np.ndarray | None:
        """The positive-class probability (binary), or every class's (multiclass)."""
        if self.proba is None:
            return None
        return self.proba[:, 1] if self.binary else self.proba


@dataclass(frozen=True)
class MetricDef:
    name: str
    task: str
    """classification | regression"""
    input: str
    """label | score"""
    greater_is_better: bool
    fn: Callable[[Predictions], float]
    lightgbm: str | None = None
    xgboost: str | None = None
    binary_only: bool = False

    def __call__(self, preds: Predictions) -> float:
        if self.input == "score" and preds.proba is None:
            raise InvalidArgumentError(
                f"Metric {self.name!r} needs predicted probabilities, and this model has no "
                "predict_proba; choose a label metric (accuracy, f1, ...) or a probabilistic model.",
                field="evaluate.metrics",
                value=self.name,
            )
        if self.binary_only and not preds.binary:
            raise InvalidArgumentError(
                f"Metric {self.name!r} is defined for two classes; this target has "
                f"{len(preds.classes or [])}. Use roc_auc, average_precision, log_loss, f1 or "
                "accuracy instead (macro averages over the classes).",
                field="evaluate.metrics",
                value=self.name,
            )
        return float(self.fn(preds))


def predict(model: Any, X: Any, y: Any, threshold: float = 0.5) -> Predictions:
    """What ``model`` (an estimator, or a LoadedModel from the registry) says about ``X``:
    labels (with ``threshold`` on the positive class for two classes) and probabilities."""
    classes = getattr(model, "classes_", None)
    if classes is None:
        classes = getattr(model, "classes", None)
    has_proba = getattr(model, "has_proba", hasattr(model, "predict_proba"))
    proba = np.asarray(model.predict_proba(X)) if classes is not None and has_proba else None
    if proba is not None and classes is not None and len(classes) == 2:
        labels = np.where(proba[:, 1] >= threshold, classes[1], classes[0])
    else:
        labels = np.asarray(model.predict(X))
    return Predictions(np.asarray(y), labels, proba, list(classes) if classes is not None else None)


def _sk(name: str) -> Any:
    import sklearn.metrics

    return getattr(sklearn.metrics, name)


def _average(p: Predictions) -> str:
    return "binary" if p.binary else "macro"


def _pos(p: Predictions) -> Any:
    return p.classes[1] if p.binary and p.classes is not None else 1


def _roc_auc(p: Predictions) -> float:
    if p.binary:
        return float(_sk("roc_auc_score")(p.y_true, p.score))
    return float(_sk("roc_auc_score")(p.y_true, p.proba, multi_class="ovr", labels=p.classes))


def _average_precision(p: Predictions) -> float:
    """Binary: of the positive class. Multiclass: the macro average of one-vs-rest average
    precision over the classes present in ``y_true`` (a class with no positive row has none)."""
    if p.binary:
        return float(_sk("average_precision_score")(p.y_true, p.score, pos_label=_pos(p)))
    from sklearn.preprocessing import label_binarize

    assert p.proba is not None and p.classes is not None
    onehot = label_binarize(p.y_true, classes=list(p.classes))
    present = onehot.sum(axis=0) > 0
    return float(
        _sk("average_precision_score")(onehot[:, present], p.proba[:, present], average="macro")
    )


def _classification() -> list[MetricDef]:
    def label(sk_name: str, **kw: Any) -> Callable[[Predictions], float]:
        def fn(p: Predictions) -> float:
            extra = dict(kw)
            if sk_name in ("precision_score", "recall_score", "f1_score"):
                extra.update(average=_average(p), zero_division=0)
                if p.binary:
                    extra["pos_label"] = _pos(p)
            return float(_sk(sk_name)(p.y_true, p.labels, **extra))

        return fn

    return [
        MetricDef("roc_auc", "classification", "score", True, _roc_auc, "auc", "auc"),
        MetricDef(
            "average_precision",
            "classification",
            "score",
            True,
            _average_precision,
            "average_precision",
            "aucpr",
        ),
        MetricDef(
            "log_loss",
            "classification",
            "score",
            False,
            lambda p: _sk("log_loss")(p.y_true, p.proba, labels=p.classes),
            "binary_logloss",
            "logloss",
        ),
        MetricDef(
            "brier",
            "classification",
            "score",
            False,
            lambda p: _sk("brier_score_loss")(p.y_true, p.score, pos_label=_pos(p)),
            binary_only=True,
        ),
        MetricDef("accuracy", "classification", "label", True, label("accuracy_score")),
        MetricDef(
            "balanced_accuracy", "classification", "label", True, label("balanced_accuracy_score")
        ),
        MetricDef("precision", "classification", "label", True, label("precision_score")),
        MetricDef("recall", "classification", "label", True, label("recall_score")),
        MetricDef("f1", "classification", "label", True, label("f1_score")),
        MetricDef("mcc", "classification", "label", True, label("matthews_corrcoef")),
    ]


def _regression() -> list[MetricDef]:
    def reg(sk_name: str, post: Callable[[float], float] = float) -> Callable[[Predictions], float]:
        return lambda p: post(float(_sk(sk_name)(p.y_true, p.labels)))

    return [
        MetricDef(
            "rmse", "regression", "label", False, reg("mean_squared_error", np.sqrt), "rmse", "rmse"
        ),
        MetricDef("mse", "regression", "label", False, reg("mean_squared_error"), "l2", None),
        MetricDef("mae", "regression", "label", False, reg("mean_absolute_error"), "l1", "mae"),
        MetricDef("r2", "regression", "label", True, reg("r2_score")),
        MetricDef(
            "mape", "regression", "label", False, reg("mean_absolute_percentage_error"), "mape"
        ),
    ]


METRICS: dict[str, MetricDef] = {m.name: m for m in (*_classification(), *_regression())}
DEFAULT_METRICS = {
    "classification": ["roc_auc", "average_precision", "f1", "accuracy"],
    "regression": ["rmse", "mae", "r2"],
}


def custom_metric(spec: CustomMetric, task: str) -> MetricDef:
    """A MetricDef calling ``spec.function(y_true, labels or score)``."""
    fn = import_object(spec.function, what="custom metric", field=f"evaluate.metrics.{spec.name}")
    if not callable(fn):
        raise InvalidArgumentError(
            f"Custom metric {spec.name!r}: {spec.function} is not callable.",
            field="evaluate.metrics",
            value=spec.function,
        )

    def call(p: Predictions) -> float:
        value = fn(p.y_true, p.score if spec.input == "score" else p.labels)
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"Custom metric {spec.name!r} ({spec.function}) returned {value!r}, not a number.",
                field="evaluate.metrics",
                value=spec.name,
            ) from exc

    return MetricDef(spec.name, task, spec.input, spec.greater_is_better, call)


def resolve_metrics(
    refs: Sequence[str | CustomMetric], task: str, *, extra: Sequence[str] = ()
) -> list[MetricDef]:
    """The metrics a spec names (defaults when none), plus ``extra`` names (gate / tune)."""
    chosen = list(refs) or list(DEFAULT_METRICS[task])
    names = {r if isinstance(r, str) else r.name for r in chosen}
    chosen += [e for e in extra if e not in names]
    out: list[MetricDef] = []
    for ref in chosen:
        if isinstance(ref, CustomMetric):
            out.append(custom_metric(ref, task))
            continue
        out.append(metric_by_name(ref, task))
    return out


def metric_by_name(name: str, task: str | None = None) -> MetricDef:
    found = METRICS.get(name)
    if found is None:
        raise InvalidArgumentError(
            f"Unknown metric {name!r}{suggest(name, list(METRICS))}; known: "
            f"{', '.join(METRICS)} (or a custom metric: {{name, function}}).",
            field="evaluate.metrics",
            value=name,
        )
    if task is not None and found.task != task:
        raise InvalidArgumentError(
            f"Metric {name!r} is a {found.task} metric, but this is a {task} task; use one of "
            f"{', '.join(DEFAULT_METRICS[task])}.",
            field="evaluate.metrics",
            value=name,
        )
    return found


def score_all(metrics: Sequence[MetricDef], preds: Predictions) -> dict[str, float]:
    return {m.name: m(preds) for m in metrics}
