"""The parent side of tuning: start workers on the compute backend, watch the study, log each
finished trial as a child run, and return the best parameters."""

from __future__ import annotations

import math
import os
import shutil
from typing import Any

from modelyard.entities import RunStatus
from modelyard.pipeline.context import Context
from modelyard.pipeline.metrics import MetricDef
from modelyard.pipeline.splits import split_rows
from modelyard.pipeline.tuning import (
    TrialRecord,
    TuneResult,
    TuneTask,
    create_study,
    finished_trials,
    prepare_work_dir,
    run_in_thread,
    run_worker,
    summarize,
    watch,
)

__all__ = ["run_trials"]


def run_trials(ctx: Context, metric: MetricDef) -> TuneResult:
    spec = ctx.spec
    tune = spec.train.tune
    assert tune is not None and ctx.X_train is not None and ctx.y_train is not None
    method = "stratified" if spec.split.method == "stratified" else spec.split.method
    fit, valid = split_rows(
        method,
        tune.validation_fraction,
        y=ctx.y_train,
        timestamps=ctx.ts_train,
        seed=spec.seed,
        where="train.tune.validation_fraction",
    )
    X, y = ctx.X_train, ctx.y_train
    work = prepare_work_dir(
        ctx.cache.root / "_work", X.iloc[fit], y.iloc[fit], X.iloc[valid], y.iloc[valid]
    )
    try:
        return _optimize(ctx, metric, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _optimize(ctx: Context, metric: MetricDef, work: Any) -> TuneResult:
    spec = ctx.spec
    tune = spec.train.tune
    assert tune is not None
    study = create_study(work, metric)
    workers = max(1, min(tune.parallelism or ctx.backend.parallelism, tune.n_trials))
    threads = max(1, (os.cpu_count() or 1) // workers)
    tasks = [
        TuneTask(
            str(work),
            study,
            spec.model_dump(mode="json", by_alias=True),
            ctx.plan.to_dict(),
            ctx.task,
            metric.name,
            tune.n_trials // workers + (1 if i < tune.n_trials % workers else 0),
            i,
            threads,
            tune.n_trials,
            tune.timeout_s,
        )
        for i in range(workers)
    ]
    ctx.run.log_params({"tune.workers": workers, "tune.backend": ctx.backend.name})
    ctx.reporter.step_progress("tune", 0, tune.n_trials, f"{workers} worker(s)")
    best: list[float] = []
    done = 0

    def on_trial(record: TrialRecord) -> None:
        nonlocal done
        done += 1
        _log_trial(ctx, record, metric)
        if record.value is not None:
            best.append(record.value)
        shown = (max if metric.greater_is_better else min)(best) if best else math.nan
        ctx.reporter.step_progress("tune", done, tune.n_trials, f"best {metric.name} {shown:.4f}")

    if workers == 1:  # no process to start: run in a thread and watch from here
        wait, result = run_in_thread(lambda: run_worker(tasks[0]))
        trials = watch(wait, lambda: finished_trials(work, study), on_trial)
        result()
    else:
        with ctx.backend.start(run_worker, tasks) as group:
            trials = watch(group.wait, lambda: finished_trials(work, study), on_trial)
            group.results()
    return summarize(trials, metric)


def _log_trial(ctx: Context, record: TrialRecord, metric: MetricDef) -> None:
    """One trial = one child run: its params, its validation score, its pruning curve."""
    tags = {
        "modelyard.pipeline.trial": ctx.spec.name,
        "modelyard.trial.number": record.number,
        "modelyard.trial.state": record.state,
    }
    with ctx.run.child(f"trial-{record.number}", tags=tags) as child:
        child.log_params(record.params)
        points: list[tuple[str, float, int]] = [("trial.seconds", record.seconds, 0)]
        if record.value is not None:
            points.append((f"valid.{metric.name}", record.value, 0))
        points += [
            (f"valid.{metric.name}.curve", v, step) for step, v in record.intermediate.items()
        ]
        child.log_metrics(points)
        if record.state == "FAIL":
            child.set_tag("modelyard.error", record.error or "trial failed")
            child.end(RunStatus.FAILED)
        elif record.state == "PRUNED":
            child.end(RunStatus.KILLED)
