"""Hyper-parameter tuning with Optuna: TPE, pruning, trials in parallel on the compute backend.

The parent writes the training rows (split into fit / validation parts) to a work directory
and creates a study in an Optuna journal file there. Each worker process loads the study and
runs its share of the ``n_trials`` (the shares add up exactly; Optuna's MaxTrialsCallback can
overshoot when workers race), all sampling from one shared TPE history. The parent polls the
journal while they run: it shows progress and logs each finished trial as a child run. Workers
never touch the metadata store, and nothing is pickled but the small task description.

Pruning: LightGBM and XGBoost report the validation metric every few boosting rounds and a
median pruner stops trials that fall behind; other estimators run each trial to the end.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from modelyard.errors import DependencyMissingError, InvalidArgumentError
from modelyard.pipeline.estimators import (
    build_estimator,
    estimator_class,
    sample_weight,
    supports_pruning,
)
from modelyard.pipeline.metrics import MetricDef, metric_by_name, predict
from modelyard.pipeline.spec import ChoiceDim, PipelineSpec, RangeDim
from modelyard.pipeline.transform import ColumnPlan, build_preprocessor

__all__ = ["TrialRecord", "TuneResult", "TuneTask", "run_worker", "suggest_params"]

TARGET = "__target__"
_REPORTS_PER_TRIAL = 20


@dataclass(frozen=True)
class TuneTask:
    """What one worker needs; plain data, so any backend can ship it."""

    work_dir: str
    study_name: str
    spec: dict[str, Any]
    plan: dict[str, Any]
    task: str
    metric: str
    n_trials: int
    """this worker's share of the study's trials"""
    worker: int
    n_jobs: int
    total_trials: int = 0
    timeout_s: float | None = None


@dataclass(frozen=True)
class TrialRecord:
    number: int
    state: str
    params: dict[str, Any]
    value: float | None
    seconds: float
    intermediate: dict[int, float] = field(default_factory=dict)
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "state": self.state,
            "params": self.params,
            "value": self.value,
            "seconds": self.seconds,
            "error": self.error,
        }


@dataclass(frozen=True)
class TuneResult:
    metric: str
    direction: str
    best_params: dict[str, Any]
    best_value: float
    best_trial: int
    trials: list[TrialRecord]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.trials:
            out[t.state] = out.get(t.state, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "direction": self.direction,
            "best_params": self.best_params,
            "best_value": self.best_value,
            "best_trial": self.best_trial,
            "counts": self.counts(),
            "trials": [t.to_dict() for t in self.trials],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TuneResult:
        return cls(
            data["metric"],
            data["direction"],
            dict(data["best_params"]),
            float(data["best_value"]),
            int(data["best_trial"]),
            [
                TrialRecord(
                    t["number"], t["state"], t["params"], t["value"], t["seconds"], {}, t["error"]
                )
                for t in data["trials"]
            ],
        )


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:
        raise DependencyMissingError.for_extra("optuna", "pipeline") from exc
    # failed trials are recorded (child runs, tune/result.json); no tracebacks on the console
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna


def _storage(work_dir: str) -> Any:
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return JournalStorage(JournalFileBackend(str(Path(work_dir) / "study.journal")))


def suggest_params(trial: Any, space: Mapping[str, RangeDim | ChoiceDim]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, dim in space.items():
        if isinstance(dim, ChoiceDim):
            out[name] = trial.suggest_categorical(name, dim.choices)
        elif dim.is_int:
            step = int(dim.step) if dim.step else 1
            out[name] = trial.suggest_int(name, int(dim.low), int(dim.high), step=step, log=dim.log)
        else:
            out[name] = trial.suggest_float(name, dim.low, dim.high, step=dim.step, log=dim.log)
    return out


# -- the worker side -------------------------------------------------------------------------
class _Objective:
    """One worker's trials: the preprocessor is fitted once, each trial fits an estimator."""

    def __init__(self, task: TuneTask) -> None:
        self.task = task
        self.spec = PipelineSpec.model_validate(task.spec)
        fit = pd.read_parquet(Path(task.work_dir) / "fit.parquet")
        valid = pd.read_parquet(Path(task.work_dir) / "valid.parquet")
        self.y_fit, self.y_valid = fit.pop(TARGET), valid.pop(TARGET)
        pre = build_preprocessor(self.spec.transform, ColumnPlan.from_dict(task.plan))
        self.X_fit = pre.fit_transform(fit, self.y_fit)
        self.X_valid = pre.transform(valid)
        self.cls = estimator_class(self.spec.train.model, task.task)
        self.metric = metric_by_name(task.metric, task.task)
        self.weights = sample_weight(self.spec.train.class_weight, self.y_fit)

    def __call__(self, trial: Any) -> float:
        try:
            return self._trial(trial)
        except _optuna().TrialPruned:
            raise
        except Exception as exc:  # recorded with the trial, then Optuna marks it FAIL
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
            raise

    def _trial(self, trial: Any) -> float:
        params = {**self.spec.train.params, **suggest_params(trial, self.spec.train.tune.space)}  # type: ignore[union-attr]
        estimator = build_estimator(self.cls, params, seed=self.spec.seed, n_jobs=self.task.n_jobs)
        kwargs: dict[str, Any] = {}
        if self.weights is not None:
            kwargs["sample_weight"] = self.weights
        kind = supports_pruning(estimator) if self.spec.train.tune.pruning else None  # type: ignore[union-attr]
        name = _native_metric(self.metric, kind, self.y_fit) if kind else None
        if kind == "lightgbm" and name:
            kwargs.update(
                _lightgbm_eval_set(estimator, self.X_valid, self.y_valid, self.y_fit),
                eval_metric=name,
                callbacks=[_lightgbm_reporter(trial, name, _every(params))],
            )
        elif kind == "xgboost" and name:
            reporter = _xgboost_reporter(trial, name, _every(params))
            estimator.set_params(eval_metric=name, callbacks=[reporter])
            kwargs.update(eval_set=[(self.X_valid, self.y_valid)], verbose=False)
        estimator.fit(self.X_fit, self.y_fit, **kwargs)
        return self.metric(
            predict(estimator, self.X_valid, self.y_valid, self.spec.evaluate.threshold)
        )


# The library's name for a metric on three or more classes, where it differs from the binary
# one (LightGBM's auc and average_precision, and XGBoost's aucpr, are binary only: such a trial
# is not pruned, it runs to the end and is scored by the metric itself).
_MULTICLASS_NATIVE = {
    ("lightgbm", "log_loss"): "multi_logloss",
    ("xgboost", "log_loss"): "mlogloss",
    ("xgboost", "roc_auc"): "auc",
}


def _native_metric(metric: MetricDef, kind: str, y: pd.Series) -> str | None:
    """The name ``kind`` (lightgbm / xgboost) reports ``metric`` under while fitting on ``y``."""
    if metric.task == "classification" and y.nunique() > 2:
        return _MULTICLASS_NATIVE.get((kind, metric.name))
    name: str | None = getattr(metric, kind, None)
    return name


def _lightgbm_eval_set(estimator: Any, X: Any, y: Any, y_fit: Any) -> dict[str, Any]:
    """LightGBM >= 4.7 takes eval_X / eval_y and deprecates eval_set; older versions only
    know eval_set. A classifier passes eval_y on unencoded (4.7 encodes only eval_set's labels),
    so class labels are encoded here as its fit encodes them (sorted, 0..k-1): text labels
    ('pos', 'online', 'atm') or labels not starting at 0 would otherwise be refused or misread."""
    import inspect

    from sklearn.base import is_classifier

    if "eval_X" in inspect.signature(estimator.fit).parameters:
        if is_classifier(estimator):
            from sklearn.preprocessing import LabelEncoder

            y = LabelEncoder().fit(y_fit).transform(y)
        return {"eval_X": (X,), "eval_y": (y,)}
    return {"eval_set": [(X, y)]}


def _every(params: Mapping[str, Any]) -> int:
    """Report every this many boosting rounds (about 20 reports a trial): each report is a
    write to the shared journal and a pruning decision that reads it."""
    n = int(params.get("n_estimators", 0) or 0) or 100
    return max(1, n // _REPORTS_PER_TRIAL)


def _lightgbm_reporter(trial: Any, metric: str, every: int) -> Callable[[Any], None]:
    optuna = _optuna()

    def callback(env: Any) -> None:
        if (env.iteration + 1) % every:
            return
        for _data, name, value, _higher in env.evaluation_result_list:
            if name == metric:
                trial.report(float(value), env.iteration + 1)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at iteration {env.iteration + 1}")

    callback.order = 30  # type: ignore[attr-defined]
    return callback


def _xgboost_reporter(trial: Any, metric: str, every: int) -> Any:
    import xgboost

    optuna = _optuna()

    class Reporter(xgboost.callback.TrainingCallback):  # type: ignore[misc]
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            if (epoch + 1) % every:
                return False
            logs: dict[str, Any] = next(iter(evals_log.values()), {})
            history = logs.get(metric)
            if history:
                trial.report(float(history[-1]), epoch + 1)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at iteration {epoch + 1}")
            return False

    return Reporter()


def run_worker(task: TuneTask) -> int:
    """Run this worker's ``n_trials`` trials of the shared study; returns how many ran."""
    optuna = _optuna()

    objective = _Objective(task)
    study = optuna.load_study(
        study_name=task.study_name,
        storage=_storage(task.work_dir),
        sampler=optuna.samplers.TPESampler(
            seed=objective.spec.seed + task.worker,
            n_startup_trials=min(10, task.total_trials // 3 + 1),
        ),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
    )
    ran = 0

    def count(_study: Any, _trial: Any) -> None:
        nonlocal ran
        ran += 1

    study.optimize(
        objective,
        n_trials=task.n_trials,
        timeout=task.timeout_s,
        catch=(Exception,),
        callbacks=[count],
    )
    return ran


# -- the parent side -------------------------------------------------------------------------
def prepare_work_dir(
    root: Path, fit: pd.DataFrame, y_fit: pd.Series, valid: pd.DataFrame, y_valid: pd.Series
) -> Path:
    work = root / f"tune-{uuid.uuid4().hex[:12]}"
    work.mkdir(parents=True)
    fit.assign(**{TARGET: y_fit.to_numpy()}).to_parquet(work / "fit.parquet")
    valid.assign(**{TARGET: y_valid.to_numpy()}).to_parquet(work / "valid.parquet")
    return work


def create_study(work_dir: Path, metric: MetricDef) -> str:
    optuna = _optuna()
    name = f"modelyard-{uuid.uuid4().hex[:8]}"
    optuna.create_study(
        study_name=name,
        storage=_storage(str(work_dir)),
        direction="maximize" if metric.greater_is_better else "minimize",
    )
    return name


def finished_trials(work_dir: Path, study_name: str) -> list[TrialRecord]:
    """The trials that have ended so far (complete, pruned or failed), by number."""
    optuna = _optuna()
    from optuna.trial import TrialState

    study = optuna.load_study(study_name=study_name, storage=_storage(str(work_dir)))
    out = []
    for t in study.get_trials(
        deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    ):
        seconds = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else 0.0
        )
        value = t.value if t.state == TrialState.COMPLETE else None
        out.append(
            TrialRecord(
                t.number,
                t.state.name,
                dict(t.params),
                float(value) if value is not None and math.isfinite(value) else None,
                seconds,
                dict(t.intermediate_values),
                str(t.user_attrs.get("error", "")),
            )
        )
    return sorted(out, key=lambda r: r.number)


def summarize(trials: list[TrialRecord], metric: MetricDef) -> TuneResult:
    complete = [t for t in trials if t.state == "COMPLETE" and t.value is not None]
    if not complete:
        errors = sorted({t.error for t in trials if t.error})
        raise InvalidArgumentError(
            f"Tuning finished no trial ({len(trials)} ran; "
            f"{sum(t.state == 'PRUNED' for t in trials)} pruned, "
            f"{sum(t.state == 'FAIL' for t in trials)} failed)"
            + (f"; first error: {errors[0]}" if errors else "")
            + ". Check train.tune.space and train.params.",
            field="train.tune",
        )
    sign = 1 if metric.greater_is_better else -1
    best = max(complete, key=lambda t: sign * float(t.value or 0.0))
    return TuneResult(
        metric.name,
        "maximize" if metric.greater_is_better else "minimize",
        dict(best.params),
        float(best.value or 0.0),
        best.number,
        trials,
    )


def watch(
    tasks_done: Callable[[float], bool],
    poll: Callable[[], list[TrialRecord]],
    on_trial: Callable[[TrialRecord], None],
    interval: float = 0.25,
) -> list[TrialRecord]:
    """Poll finished trials until the workers are done, calling ``on_trial`` once per trial."""
    seen: set[int] = set()
    trials: list[TrialRecord] = []
    while True:
        finished = tasks_done(interval)
        for record in poll():
            if record.number not in seen:
                seen.add(record.number)
                trials.append(record)
                on_trial(record)
        if finished:
            return trials


def run_in_thread(fn: Callable[[], Any]) -> tuple[Callable[[float], bool], Callable[[], Any]]:
    """Run ``fn`` in a thread; returns (wait(timeout) -> done?, result() re-raising errors)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="modelyard-tune", daemon=True)
    thread.start()

    def wait(timeout: float) -> bool:
        thread.join(timeout)
        return not thread.is_alive()

    def result() -> Any:
        thread.join()
        if "error" in box:
            raise box["error"]
        return box.get("result")

    return wait, result
