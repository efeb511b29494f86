"""The steps of a pipeline run: ingest, validate, split, transform, tune, train, evaluate.

Each cacheable step computes a key from its spec section and its upstream keys (down to the
data fingerprint), reuses a cache entry with that key or computes one, and then records its
outputs in the run either way, so a fully cached run is as complete a record as the first.
``register`` lives in :mod:`modelyard.pipeline.register` (it is never cached: it reads the
registry as it is now).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelyard.data import ValidationReport, validate
from modelyard.errors import DataValidationError, InvalidArgumentError, suggest
from modelyard.features import FeatureStore
from modelyard.flavors import load_model, save_model
from modelyard.pipeline.context import Context, StepOutcome, read_json, write_json
from modelyard.pipeline.estimators import (
    ALIASES,
    build_estimator,
    estimator_class,
    fit_estimator,
    sample_weight,
)
from modelyard.pipeline.evaluation import cross_validate, plot_all
from modelyard.pipeline.imports import qualified_name
from modelyard.pipeline.metrics import (
    MetricDef,
    metric_by_name,
    predict,
    resolve_metrics,
    score_all,
)
from modelyard.pipeline.sources import load_data
from modelyard.pipeline.splits import split_rows
from modelyard.pipeline.transform import (
    ColumnPlan,
    apply_features,
    build_preprocessor,
    feature_function_types,
    feature_names,
    plan_columns,
)

__all__ = ["STEP_FUNCTIONS"]

StepFn = Callable[[Context], StepOutcome]


def _cached(
    ctx: Context, step: str, key: str, compute: Callable[[Path], None]
) -> tuple[Path, str | None]:
    """The entry for ``key``: reused (returns the run that made it) or computed now."""
    ctx.keys[step] = key
    entry = ctx.cache.get(step, key)
    if entry is not None:
        source = ctx.cache.info(entry).get("run_id")
        ctx.run.set_tag(f"modelyard.pipeline.cached.{step}", source or "unknown")
        return entry, str(source or "unknown")
    _, entry = ctx.cache.put(step, key, compute, meta={"run_id": ctx.run.run_id})
    return entry, None


def _outcome(step: str, cached_from: str | None, summary: str) -> StepOutcome:
    return StepOutcome(
        step, "cached" if cached_from else "ran", summary=summary, cached_from=cached_from
    )


# -- ingest ----------------------------------------------------------------------------------
def ingest(ctx: Context) -> StepOutcome:
    source = load_data(ctx.loaded, ctx.workspace)
    frame = source.dataset.frame
    data = ctx.spec.data
    columns = [str(c) for c in frame.columns]
    _require_column(data.target, "data.target", columns)
    if data.timestamp:
        _require_column(data.timestamp, "data.timestamp", columns)
        _require_times(frame[data.timestamp])
    missing = [c for c in data.drop if c not in columns]
    if missing:
        raise DataValidationError(
            f"data.drop names column(s) {missing} that the data does not have; it has "
            f"{', '.join(columns)}.",
            field="data.drop",
        )
    for dataset in source.inputs:
        ctx.run.log_input(dataset)
    if source.features is not None:
        # lineage: feature view version -> this run (the registry adds run -> model version)
        FeatureStore(ctx.workspace).link_run(ctx.run.run_id, list(source.features.views))
        ctx.run.set_tags(source.features.tags())
    ctx.dataset, ctx.frame, ctx.features = source.dataset, frame, source.features
    ctx.inputs = [d.digest for d in source.inputs]
    ctx.keys["ingest"] = source.key
    ctx.run.log_metrics({"data.rows": len(frame), "data.columns": frame.shape[1]})
    return StepOutcome("ingest", "ran", summary=source.summary)


def _require_column(name: str, field: str, columns: list[str]) -> None:
    if name not in columns:
        raise DataValidationError(
            f"{field} {name!r} is not a column of the data{suggest(name, columns)}; the data has "
            f"{', '.join(columns)}.",
            field=field,
            value=name,
        )


def _require_times(values: pd.Series) -> None:
    """data.timestamp orders the temporal split and time-series folds: its values must read as
    times (a datetime column, date / time text, or numbers), else say which value does not."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype) or (
        pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values)
    ):
        return
    name, kind = values.name, "text"
    if pd.api.types.is_bool_dtype(values.dtype):
        bad, kind = values.dropna(), "true / false"
    else:
        try:
            with warnings.catch_warnings():  # "could not infer format": said below if it fails
                warnings.simplefilter("ignore", UserWarning)
                pd.to_datetime(values)  # as the split reads it
            return
        except (ValueError, TypeError, OverflowError):
            parsed = pd.to_datetime(values, errors="coerce", format="mixed")
            bad = values[parsed.isna() & values.notna()]
    example = _plain(bad.iloc[0]) if len(bad) else _plain(values.dropna().iloc[0])
    raise DataValidationError(
        f"data.timestamp {name!r} is not a time column: it holds {kind} such as {example!r}, "
        "which does not read as a date or time. Name the event-time column (a datetime "
        "column, or text such as 2026-01-31T12:00:00).",
        field="data.timestamp",
        value=str(name),
        example=example,
    )


# -- validate --------------------------------------------------------------------------------
def validate_step(ctx: Context) -> StepOutcome:
    spec, frame = ctx.spec, ctx.frame
    assert frame is not None
    if spec.validation is None:
        ctx.keys["validate"] = ctx.keys["ingest"]
        return StepOutcome("validate", "skipped", summary="no validation section")
    key = _key(
        ctx, "validate", {"validation": spec.validation, "data": _data_section(ctx)}, "ingest"
    )
    exclude = [spec.data.target, *spec.data.drop]
    entry = ctx.cache.get("validate", key)
    cached_from = None
    if entry is not None:
        report = read_json(entry / "report.json")
        text = (entry / "report.txt").read_text()
        keep = np.load(entry / "keep.npy", allow_pickle=False)
        cached_from = str(ctx.cache.info(entry).get("run_id", "unknown"))
        ctx.run.set_tag("modelyard.pipeline.cached.validate", cached_from)
    else:
        assert ctx.dataset is not None
        result = validate(
            frame, spec.validation, source=ctx.dataset.source, exclude=exclude, seed=spec.seed
        )
        report, text, keep = result.to_dict(), result.to_text(), result.keep
    ctx.keys["validate"] = key
    ctx.validation = report
    ctx.artifact_json(report, "validation/report.json")
    ctx.run.log_text(text, "validation/report.txt")
    ctx.run.log_metrics(
        {"validation.rows_out": int(keep.sum()), "validation.failed": report["summary"]["failed"]}
    )
    if not report["passed"]:
        _raise_validation(report)
    if entry is None:
        ctx.cache.put(
            "validate",
            key,
            lambda d: _write_validation(d, report, text, keep),
            meta={"run_id": ctx.run.run_id},
        )
    ctx.frame = frame.loc[keep].reset_index(drop=True) if not keep.all() else frame
    counts = report["summary"]
    summary = (
        f"{counts['passed']} passed, {counts['flagged']} flagged, {counts['dropped']} dropped; "
        f"{int(keep.sum()):,} rows kept"
    )
    return _outcome("validate", cached_from, summary)


def _write_validation(d: Path, report: dict[str, Any], text: str, keep: np.ndarray) -> None:
    write_json(d / "report.json", report)
    (d / "report.txt").write_text(text)
    np.save(d / "keep.npy", keep, allow_pickle=False)


def _raise_validation(report: dict[str, Any]) -> None:
    failed = [c for c in report["checks"] if c["status"] == "failed"]
    rebuilt = ValidationReport(report["source"], report["rows_in"], np.ones(0, dtype=bool))
    from modelyard.data import Check

    rebuilt.checks = [Check(**c) for c in failed]
    rebuilt.raise_for_failures()


def _data_section(ctx: Context) -> dict[str, Any]:
    d = ctx.spec.data
    return {"target": d.target, "timestamp": d.timestamp, "drop": d.drop}


def _key(ctx: Context, step: str, section: Any, *upstream: str) -> str:
    from modelyard.pipeline.cache import step_key

    return step_key(step, section, upstream=[ctx.keys[u] for u in upstream], seed=ctx.spec.seed)


# -- split -----------------------------------------------------------------------------------
def split(ctx: Context) -> StepOutcome:
    spec, frame = ctx.spec, ctx.frame
    assert frame is not None
    y = frame[spec.data.target]
    ctx.task = _task(ctx, y)
    _check_target(y, ctx.task)
    if ctx.task == "regression" and spec.train.class_weight is not None:
        raise InvalidArgumentError(
            f"train.class_weight applies to classification only, and data.target "
            f"{spec.data.target!r} is a regression target ({_why_regression(ctx, y)}). Remove "
            "train.class_weight, or set train.task: classification.",
            field="train.class_weight",
            value=spec.train.class_weight,
        )
    if ctx.task == "classification":
        _check_xgboost_labels(ctx, y)
    key = _key(
        ctx,
        "split",
        {"split": spec.split, "data": _data_section(ctx), "task": ctx.task},
        "validate",
    )
    ts = frame[spec.data.timestamp] if spec.data.timestamp else None

    def compute(d: Path) -> None:
        train, test = split_rows(
            spec.split.method, spec.split.test_fraction, y=y, timestamps=ts, seed=spec.seed
        )
        np.save(d / "train.npy", train, allow_pickle=False)
        np.save(d / "test.npy", test, allow_pickle=False)

    entry, cached_from = _cached(ctx, "split", key, compute)
    train = np.load(entry / "train.npy", allow_pickle=False)
    test = np.load(entry / "test.npy", allow_pickle=False)
    features = frame.drop(columns=[spec.data.target, *spec.data.drop])
    ctx.X_train, ctx.y_train = features.iloc[train], y.iloc[train]
    ctx.X_test, ctx.y_test = features.iloc[test], y.iloc[test]
    ctx.ts_train = ts.iloc[train] if ts is not None else None
    if ctx.task == "classification" and ctx.y_train.nunique() < 2:
        raise DataValidationError(
            f"The training split holds a single class of data.target {spec.data.target!r} "
            f"({_plain(ctx.y_train.iloc[0])!r}); the other class(es) all fall in the test split. Use "
            "split.method: stratified, or a smaller split.test_fraction.",
            field="split",
        )
    ctx.run.log_metrics({"data.train_rows": len(train), "data.test_rows": len(test)})
    summary = f"{spec.split.method}: {len(train):,} train / {len(test):,} test rows ({ctx.task})"
    if ts is not None and spec.split.method == "temporal":
        summary += f", cut at {pd.Timestamp(ts.iloc[test].min())}"
    return _outcome("split", cached_from, summary)


def _task(ctx: Context, y: pd.Series) -> str:
    """The spec's task; else the estimator's own (a class name or import path); else the data's:
    a text, boolean or integer target with at most 20 values is a classification target."""
    from modelyard.pipeline.checks import static_task
    from modelyard.pipeline.estimators import infer_task_of

    task = static_task(ctx.spec)
    if task != "auto":
        return task
    if ctx.spec.train.model not in ALIASES:
        from_model = infer_task_of(estimator_class(ctx.spec.train.model, "classification"))
        if from_model:
            return from_model
    if pd.api.types.is_float_dtype(y.dtype) and (y.dropna() % 1 != 0).any():
        return "regression"
    if pd.api.types.is_numeric_dtype(y.dtype) and not pd.api.types.is_bool_dtype(y.dtype):
        return "classification" if y.nunique() <= 20 else "regression"
    return "classification"


def _why_regression(ctx: Context, y: pd.Series) -> str:
    from modelyard.pipeline.checks import static_task

    if static_task(ctx.spec) == "regression":
        return "the metrics are regression metrics"
    if ctx.spec.train.model not in ALIASES:
        from modelyard.pipeline.estimators import infer_task_of

        if infer_task_of(estimator_class(ctx.spec.train.model, "classification")) == "regression":
            return f"train.model {ctx.spec.train.model!r} is a regressor"
    return f"inferred from its {y.nunique():,} distinct numeric values"


def _check_xgboost_labels(ctx: Context, y: pd.Series) -> None:
    """XGBoost's classifier takes the classes only as the integers 0 .. k-1: say so before
    anything is trained instead of failing inside its fit."""
    model = ctx.spec.train.model
    if not model.startswith("xgboost") or pd.api.types.is_bool_dtype(y.dtype):
        return
    classes = pd.unique(y.dropna())
    if pd.api.types.is_numeric_dtype(y.dtype):
        values = sorted(float(v) for v in classes)
        if values == [float(i) for i in range(len(values))]:
            return
    shown = ", ".join(repr(_plain(v)) for v in sorted(classes, key=str)[:5])
    raise DataValidationError(
        f"train.model {model!r}: XGBoost's classifier needs the classes of data.target "
        f"{ctx.spec.data.target!r} coded as the integers 0 .. {len(classes) - 1}, and they are "
        f"{shown}{', ...' if len(classes) > 5 else ''}. Code them in the data (e.g. a DuckDB "
        "source query with a CASE), or use lightgbm or a scikit-learn classifier, which take "
        "any labels.",
        field="train.model",
        value=model,
    )


def _check_target(y: pd.Series, task: str) -> None:
    name = y.name
    if y.isna().any():
        raise DataValidationError(
            f"data.target {name!r} has {int(y.isna().sum())} missing value(s); drop them in "
            f"validation (schema: {{{name}: {{nullable: false}}}}, on_violation: drop).",
            field="data.target",
        )
    if task == "classification" and y.nunique() < 2:
        raise DataValidationError(
            f"data.target {name!r} has a single class ({_plain(y.iloc[0])!r}) in all {len(y):,} rows; a "
            "classifier needs at least two. Check the data or the target column.",
            field="data.target",
            value=str(name),
        )
    if task == "regression" and not pd.api.types.is_numeric_dtype(y.dtype):
        raise DataValidationError(
            f"data.target {name!r} is {y.dtype}, not numeric, so it cannot be a regression "
            "target; set train.task: classification.",
            field="data.target",
        )


# -- transform -------------------------------------------------------------------------------
def transform(ctx: Context) -> StepOutcome:
    spec = ctx.spec
    ctx.trusted_types = feature_function_types(spec.transform)
    key = _key(ctx, "transform", spec.transform, "split")

    def compute(d: Path) -> None:
        assert ctx.X_train is not None
        plan = plan_columns(spec.transform, apply_features(spec.transform, ctx.X_train))
        pre = build_preprocessor(spec.transform, plan).fit(ctx.X_train, ctx.y_train)
        write_json(d / "plan.json", plan.to_dict())
        write_json(d / "outputs.json", {"features": len(feature_names(pre, []))})
        save_model(pre, d / "preprocessor", trusted_types=ctx.trusted_types)

    entry, cached_from = _cached(ctx, "transform", key, compute)
    ctx.plan = ColumnPlan.from_dict(read_json(entry / "plan.json"))
    ctx.preprocessor_dir = entry / "preprocessor"
    ctx.run.log_artifact(entry / "plan.json", "transform")
    plan = ctx.plan
    if (entry / "outputs.json").is_file():
        outputs = int(read_json(entry / "outputs.json")["features"])
    else:  # a cache entry from before outputs.json
        outputs = len(feature_names(ctx.preprocessor, []))
    summary = (
        f"{len(plan.numeric)} numeric, {len(plan.categorical)} categorical, "
        f"{len(plan.datetime)} datetime columns -> {outputs} features"
    )
    return _outcome("transform", cached_from, summary)


# -- tune ------------------------------------------------------------------------------------
def tune_metric(ctx: Context) -> MetricDef:
    tune = ctx.spec.train.tune
    name = tune.metric if tune and tune.metric else None
    if name is None:
        first = ctx.spec.evaluate.metrics[0] if ctx.spec.evaluate.metrics else None
        if first is None:
            return resolve_metrics([], ctx.task)[0]
        return resolve_metrics([first], ctx.task)[0]
    customs = [m for m in ctx.spec.evaluate.metrics if not isinstance(m, str) and m.name == name]
    return resolve_metrics(customs, ctx.task)[0] if customs else metric_by_name(name, ctx.task)


def tune_step(ctx: Context) -> StepOutcome:
    from modelyard.pipeline.tuning import TuneResult

    train = ctx.spec.train
    if train.tune is None:
        ctx.keys["tune"] = ""
        return StepOutcome("tune", "skipped", summary="no train.tune section")
    section = {"train": train, "task": ctx.task}
    key = _key(ctx, "tune", section, "transform")

    def compute(d: Path) -> None:
        from modelyard.pipeline.trials import run_trials

        write_json(d / "result.json", run_trials(ctx, tune_metric(ctx)).to_dict())

    entry, cached_from = _cached(ctx, "tune", key, compute)
    result = TuneResult.from_dict(read_json(entry / "result.json"))
    ctx.tune = result
    ctx.run.log_artifact(entry / "result.json", "tune")
    ctx.run.log_metrics({f"tune.best.{result.metric}": result.best_value})
    counts = result.counts()
    summary = (
        f"{len(result.trials)} trials ({counts.get('PRUNED', 0)} pruned, "
        f"{counts.get('FAIL', 0)} failed); best {result.metric} {result.best_value:.4f} "
        f"(trial {result.best_trial})"
    )
    return _outcome("tune", cached_from, summary)


# -- train -----------------------------------------------------------------------------------
def train_step(ctx: Context) -> StepOutcome:
    spec = ctx.spec
    params = {**spec.train.params, **(ctx.tune.best_params if ctx.tune else {})}
    ctx.params = params
    section = {
        "model": spec.train.model,
        "task": ctx.task,
        "params": params,
        "class_weight": spec.train.class_weight,
    }
    key = _key(ctx, "train", section, "transform")
    cls = estimator_class(spec.train.model, ctx.task)
    if spec.train.model not in ALIASES and ("." in spec.train.model or ":" in spec.train.model):
        # an estimator the spec names by import path is the user's own code: declared trusted
        # like the feature functions (honoured on load only through the registry's hashes)
        ctx.trusted_types = [*ctx.trusted_types, qualified_name(cls)]

    def compute(d: Path) -> None:
        from sklearn.pipeline import Pipeline

        assert ctx.X_train is not None and ctx.y_train is not None
        estimator = build_estimator(cls, params, seed=spec.seed)
        features = ctx.preprocessor.transform(ctx.X_train)
        weights = sample_weight(spec.train.class_weight, ctx.y_train)
        kwargs = {"sample_weight": weights} if weights is not None else {}
        fit_estimator(estimator, features, ctx.y_train, params, **kwargs)
        model = Pipeline([("preprocess", ctx.preprocessor), ("model", estimator)])
        save_model(
            model,
            d / "model",
            sample=ctx.X_train.head(100),
            trusted_types=ctx.trusted_types,
            metadata=_model_metadata(ctx, key),
            lineage=_model_lineage(ctx),
        )

    entry, cached_from = _cached(ctx, "train", key, compute)
    ctx.model_dir = entry / "model"
    ctx.model = load_model(ctx.model_dir, trusted_types=ctx.trusted_types).raw
    ctx.run.log_saved_model(ctx.model_dir, "model")
    ctx.run.log_params({"model.class": f"{cls.__module__}.{cls.__name__}"})
    ctx.run.log_params({f"model.{k}": _param(v) for k, v in params.items()})
    return _outcome(
        "train",
        cached_from,
        f"{cls.__name__} on {len(ctx.y_train if ctx.y_train is not None else []):,} rows",
    )


def _model_metadata(ctx: Context, key: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"pipeline": ctx.spec.name, "train_key": key, "task": ctx.task}
    if ctx.features is not None:
        # what a server must fetch online (by the join keys) to complete a request's row
        meta["features"] = ctx.features.to_dict()
    return meta


def _model_lineage(ctx: Context) -> dict[str, Any]:
    lineage: dict[str, Any] = {
        "run_id": ctx.run.run_id,
        "inputs": ctx.inputs,
        "pipeline": ctx.spec.name,
    }
    if ctx.features is not None:
        lineage["feature_views"] = ctx.features.view_refs
    return lineage


def _param(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value


# -- evaluate --------------------------------------------------------------------------------
def evaluation_metrics(ctx: Context) -> list[MetricDef]:
    spec = ctx.spec
    extra = []
    if spec.registration and spec.registration.gate:
        extra.append(spec.registration.gate.metric)
    if ctx.tune is not None:
        extra.append(ctx.tune.metric)
    return resolve_metrics(spec.evaluate.metrics, ctx.task, extra=extra)


def evaluate_step(ctx: Context) -> StepOutcome:
    spec = ctx.spec
    metrics = evaluation_metrics(ctx)
    section = {"evaluate": spec.evaluate, "metrics": [m.name for m in metrics]}
    key = _key(ctx, "evaluate", section, "train", "split")

    def compute(d: Path) -> None:
        preds = predict(ctx.model, ctx.X_test, ctx.y_test, spec.evaluate.threshold)
        write_json(d / "metrics.json", score_all(metrics, preds))
        write_json(d / "cv.json", _cross_validate(ctx, metrics))
        if spec.evaluate.plots:
            plot_all(preds, d / "plots", title=spec.name)

    entry, cached_from = _cached(ctx, "evaluate", key, compute)
    ctx.metrics = read_json(entry / "metrics.json")
    ctx.cv = read_json(entry / "cv.json")
    _record_evaluation(ctx, entry)
    shown = ", ".join(f"{k} {v:.4f}" for k, v in list(ctx.metrics.items())[:4])
    if ctx.cv:
        first = next(iter(ctx.cv))
        shown += f"; cv {first} {ctx.cv[first]['mean']:.4f} +/- {ctx.cv[first]['std']:.4f}"
    return _outcome("evaluate", cached_from, shown)


def _cross_validate(ctx: Context, metrics: list[MetricDef]) -> dict[str, Any]:
    spec = ctx.spec
    cv = spec.evaluate.cross_validation
    if cv is None:
        return {}
    from sklearn.pipeline import Pipeline

    cls = estimator_class(spec.train.model, ctx.task)

    def make_model() -> Any:
        return Pipeline(
            [
                ("preprocess", build_preprocessor(spec.transform, ctx.plan)),
                ("model", build_estimator(cls, ctx.params, seed=spec.seed)),
            ]
        )

    def fit_kwargs(y: pd.Series) -> dict[str, Any]:
        weights = sample_weight(spec.train.class_weight, y)
        return {"model__sample_weight": weights} if weights is not None else {}

    assert ctx.X_train is not None and ctx.y_train is not None
    return cross_validate(
        make_model,
        ctx.X_train,
        ctx.y_train,
        metrics,
        method=cv.method,
        folds=cv.folds,
        timestamps=ctx.ts_train,
        seed=spec.seed,
        threshold=spec.evaluate.threshold,
        fit_kwargs=fit_kwargs,
    )


def _record_evaluation(ctx: Context, entry: Path) -> None:
    run = ctx.run
    points: list[tuple[str, float, int]] = [(f"test.{k}", v, 0) for k, v in ctx.metrics.items()]
    for name, stats in ctx.cv.items():  # per-fold values are in evaluation/metrics.json
        points += [(f"cv.{name}.mean", stats["mean"], 0), (f"cv.{name}.std", stats["std"], 0)]
    run.log_metrics(points)
    ctx.artifact_json({"test": ctx.metrics, "cross_validation": ctx.cv}, "evaluation/metrics.json")
    ctx.plots = [
        ctx.log_file(p, "evaluation/plots") for p in sorted((entry / "plots").glob("*.png"))
    ]


STEP_FUNCTIONS: dict[str, StepFn] = {
    "ingest": ingest,
    "validate": validate_step,
    "split": split,
    "transform": transform,
    "tune": tune_step,
    "train": train_step,
    "evaluate": evaluate_step,
}


def _plain(value: Any) -> Any:
    """numpy scalars as Python values, so messages show 0, not np.int64(0)."""
    return value.item() if isinstance(value, np.generic) else value
