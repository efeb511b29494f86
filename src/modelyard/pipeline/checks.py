"""Checks on a parsed spec that need more than one field: estimator parameters, metric names,
import paths, and sections that must agree. Each problem is added with its full path."""

from __future__ import annotations

from typing import Any

from modelyard.entities import ALIAS_PATTERN
from modelyard.entities.specs import Problems
from modelyard.errors import ModelyardError
from modelyard.pipeline.estimators import (
    ALIASES,
    accepts_sample_weight,
    candidate_classes,
    infer_task_of,
    param_value_problem,
    unknown_params,
)
from modelyard.pipeline.imports import import_object
from modelyard.pipeline.metrics import METRICS
from modelyard.pipeline.spec import ChoiceDim, CustomMetric, PipelineSpec, RangeDim

__all__ = ["check_spec", "static_task"]


def static_task(spec: PipelineSpec) -> str:
    """classification / regression when the spec says (train.task, or its metrics), else auto."""
    if spec.train.task != "auto":
        return spec.train.task
    names = [m for m in spec.evaluate.metrics if isinstance(m, str)]
    if spec.train.tune and spec.train.tune.metric:
        names.append(spec.train.tune.metric)
    if spec.registration and spec.registration.gate:
        names.append(spec.registration.gate.metric)
    tasks = {METRICS[n].task for n in names if n in METRICS}
    return tasks.pop() if len(tasks) == 1 else "auto"


def check_spec(spec: PipelineSpec, problems: Problems) -> None:
    task = static_task(spec)
    _check_data(spec, problems)
    _check_metrics(spec, task, problems)
    _check_model(spec, task, problems)
    _check_transform(spec, problems)
    _check_register(spec, problems)


def _check_data(spec: PipelineSpec, problems: Problems) -> None:
    if spec.split.method == "temporal" and not spec.data.timestamp:
        problems.add(("split", "method"), "temporal needs data.timestamp (the event-time column)")
    cv = spec.evaluate.cross_validation
    if cv is not None and cv.method == "timeseries" and not spec.data.timestamp:
        problems.add(
            ("evaluate", "cross_validation", "method"),
            "timeseries needs data.timestamp (the event-time column)",
        )


def _metric_names(spec: PipelineSpec) -> set[str]:
    return {m if isinstance(m, str) else m.name for m in spec.evaluate.metrics} | set(METRICS)


def _check_metrics(spec: PipelineSpec, task: str, problems: Problems) -> None:
    seen: set[str] = set()
    tasks_seen: dict[str, int] = {}
    for i, ref in enumerate(spec.evaluate.metrics):
        name = ref if isinstance(ref, str) else ref.name
        if name in seen:
            problems.add(("evaluate", "metrics", i), f"metric {name!r} is listed twice")
        seen.add(name)
        if isinstance(ref, CustomMetric):
            if ref.name in METRICS:
                problems.add(
                    ("evaluate", "metrics", i, "name"),
                    f"{ref.name!r} is a built-in metric; give the custom metric another name",
                )
            _check_import(
                ref.function, "custom metric", ("evaluate", "metrics", i, "function"), problems
            )
            continue
        if ref not in METRICS:
            problems.add(("evaluate", "metrics", i), _unknown_metric(ref))
        else:
            tasks_seen.setdefault(METRICS[ref].task, i)
    if len(tasks_seen) > 1:
        i = max(tasks_seen.values())
        problems.add(
            ("evaluate", "metrics", i),
            "mixes classification and regression metrics; a pipeline has one task",
        )
    elif task != "auto" and tasks_seen and task not in tasks_seen:
        problems.add(
            ("evaluate", "metrics", next(iter(tasks_seen.values()))),
            f"is a {next(iter(tasks_seen))} metric, but train.task is {task}",
        )
    known = _metric_names(spec)
    tune = spec.train.tune
    if tune is not None and tune.metric is not None and tune.metric not in known:
        problems.add(("train", "tune", "metric"), _unknown_metric(tune.metric))
    gate = spec.registration.gate if spec.registration else None
    if gate is not None and gate.metric not in known:
        problems.add(("register", "gate", "metric"), _unknown_metric(gate.metric))


def _unknown_metric(name: str) -> str:
    from modelyard.errors import suggest

    return (
        f"unknown metric {name!r}{suggest(name, list(METRICS))}; known: {', '.join(METRICS)} "
        "(or a custom metric in evaluate.metrics: {name, function})"
    )


def _check_import(path: str, what: str, loc: tuple[Any, ...], problems: Problems) -> None:
    try:
        obj = import_object(path, what=what, field=".".join(map(str, loc)))
    except ModelyardError as exc:
        problems.add(loc, exc.message)
        return
    if not callable(obj):
        problems.add(loc, f"{path!r} is not callable")


def _check_model(spec: PipelineSpec, task: str, problems: Problems) -> None:
    train = spec.train
    try:
        classes = candidate_classes(train.model, task)
    except ModelyardError as exc:
        problems.add(("train", "model"), exc.message)
        return
    for cls in classes:
        unknown = dict(unknown_params(cls, train.params))
        for key, hint in unknown.items():
            problems.add(("train", "params", key), f"{cls.__name__} has no parameter {key!r}{hint}")
        for key, value in train.params.items():
            problem = None if key in unknown else param_value_problem(cls, key, value)
            if problem:
                problems.add(("train", "params", key), problem)
        if train.tune is not None:
            _check_space(cls, train.tune.space, problems)
        if train.class_weight is not None and not accepts_sample_weight(cls):
            problems.add(
                ("train", "class_weight"),
                f"{cls.__name__}.fit takes no sample_weight, so class weights cannot be applied",
            )
        if len(problems):
            break  # the same problem for the regressor variant would only repeat it
    if task == "auto" and train.model not in ALIASES and len(classes) == 1:
        task = infer_task_of(classes[0]) or "auto"  # RandomForestRegressor says what it is
    if task == "regression":
        if train.class_weight is not None:
            problems.add(("train", "class_weight"), "applies to classification only")
        if spec.split.method == "stratified":
            problems.add(("split", "method"), "stratified needs a classification target")
        cv = spec.evaluate.cross_validation
        if cv is not None and cv.method == "stratified":
            problems.add(
                ("evaluate", "cross_validation", "method"),
                "stratified needs a classification target",
            )


def _check_space(cls: type, space: dict[str, RangeDim | ChoiceDim], problems: Problems) -> None:
    """Every name in ``tune.space`` is a parameter of ``cls``, and the values a trial may draw
    (each choice; a range's bounds) are values it takes."""
    unknown = dict(unknown_params(cls, space))
    for key, dim in space.items():
        loc = ("train", "tune", "space", key)
        if key in unknown:
            problems.add(loc, f"{cls.__name__} has no parameter {key!r}{unknown[key]}")
            continue
        if isinstance(dim, ChoiceDim):
            samples = list(dim.choices)
        else:
            kind = int if dim.is_int else float
            samples = [kind(dim.low), kind(dim.high)]
        for value in samples:
            problem = param_value_problem(cls, key, value)
            if problem:
                problems.add(loc, problem)
                break


def _check_transform(spec: PipelineSpec, problems: Problems) -> None:
    for i, feature in enumerate(spec.transform.features):
        _check_import(
            feature.function, "feature function", ("transform", "features", i, "function"), problems
        )
    owners: dict[str, str] = {}
    for section in ("numeric", "categorical", "datetime"):
        for col in getattr(spec.transform, section).columns or []:
            if col in owners:
                problems.add(
                    ("transform", section, "columns"),
                    f"column {col!r} is also in transform.{owners[col]}.columns",
                )
            owners[col] = section
    for col in owners:
        if col == spec.data.target:
            problems.add(("transform",), f"the target {col!r} cannot be a feature column")


def _check_register(spec: PipelineSpec, problems: Problems) -> None:
    reg = spec.registration
    if reg is None:
        return
    gate = reg.gate
    if gate is not None:
        if gate.min is not None and gate.max is not None and gate.min > gate.max:
            problems.add(("register", "gate"), f"min ({gate.min}) is greater than max ({gate.max})")
        if gate.must_beat is not None and not ALIAS_PATTERN.match(gate.must_beat):
            problems.add(
                ("register", "gate", "must_beat"),
                "must be a stage (staging, production) or an alias like 'champion'",
            )
    if reg.on_gate_failure == "register" and gate is None:
        problems.add(("register", "on_gate_failure"), "applies only with a gate")
