"""Continuous training: retrain on fresh data, compare with the champion on the same recent
labelled predictions, promote only a clear winner, and record every step.

    trigger (an open drift / performance alert, or the schedule; not within the cooldown)
      -> the pipeline runs on the fresh data and registers a challenger WITHOUT promoting it
      -> champion and challenger are loaded from the registry (hash-checked) and scored on the
         SAME newest labelled predictions of the monitor's window
      -> the challenger is promoted only if it beats the champion by ``min_improvement``;
         otherwise the reason is recorded

Lineage: alert -> retrain -> run -> model_version -> promotion (and champion -> retrain).
The pipeline run is tagged ``modelyard.monitor.*`` and carries both scores as metrics.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.entities import LineageEdge, LineageNode, ModelVersion
from modelyard.entities.monitoring import AlertChange, RetrainRecord
from modelyard.errors import ModelyardError, NotFoundError
from modelyard.monitoring.metrics import positive_class, score_metrics
from modelyard.monitoring.monitors import Monitor, get_monitor
from modelyard.monitoring.spec import GREATER_IS_BETTER, RetrainSpec, duration_ms
from modelyard.monitoring.window import (
    Window,
    features_frame,
    labelled,
    now_utc,
    read_feedback,
    read_window,
)
from modelyard.storage import Workspace

if TYPE_CHECKING:
    import pyarrow as pa

    from modelyard.pipeline import LoadedSpec
    from modelyard.registry import RegistryClient

__all__ = ["maybe_retrain", "retrain"]

log = logging.getLogger("modelyard.monitoring")
TAG = "modelyard.monitor"


def _ms(value: dt.datetime) -> int:
    return int(value.timestamp() * 1000)


def maybe_retrain(
    workspace: Workspace,
    monitor: Monitor,
    window: Window,
    changes: list[AlertChange],
    now: dt.datetime,
) -> RetrainRecord | None:
    """Start a retrain if the policy's trigger holds and the cooldown has passed. ``window``: the
    monitor's window the check just read at ``now`` (champion and challenger are compared on its
    newest labelled predictions)."""
    policy = monitor.spec.retrain
    if policy is None:
        return None
    trigger = _trigger(workspace, monitor, policy, changes, _ms(now))
    if trigger is None:
        return None
    kind, alert_id = trigger
    cooldown = policy.cooldown_ms
    if kind == "schedule" and policy.every is not None:
        cooldown = max(cooldown, duration_ms(policy.every))
    started = workspace.metadata.monitoring.start_retrain(
        monitor.name,
        trigger=kind,
        alert_id=alert_id,
        model=monitor.spec.model.name,
        metric=policy.metric,
        now=_ms(now),
        cooldown_ms=cooldown,
        actor=workspace.user,
    )
    if started is None:
        log.info("monitor %s: retrain due (%s) but within the cooldown", monitor.name, kind)
        return None
    return _execute(workspace, monitor, started, now, window)


def retrain(workspace: Workspace, name: str, *, now: dt.datetime | None = None) -> RetrainRecord:
    """Retrain ``name``'s model now (trigger ``manual``; the cooldown does not apply)."""
    monitor = get_monitor(workspace, name)
    if monitor.spec.retrain is None:
        from modelyard.errors import ConflictError

        raise ConflictError(
            f"Monitor {name!r} has no retrain policy; add a `retrain:` section (see "
            "docs/monitoring.md) and apply it again.",
            monitor=name,
        )
    started = workspace.metadata.monitoring.start_retrain(
        name,
        trigger="manual",
        alert_id=None,
        model=monitor.spec.model.name,
        metric=monitor.spec.retrain.metric,
        now=_ms(now_utc(now)),
        cooldown_ms=0,
        actor=workspace.user,
    )
    assert started is not None  # no cooldown
    return _execute(workspace, monitor, started, now_utc(now))


def _trigger(
    workspace: Workspace,
    monitor: Monitor,
    policy: RetrainSpec,
    changes: list[AlertChange],
    now: int,
) -> tuple[str, int | None] | None:
    """(trigger, alert id): an open alert of a kind in ``on`` (newly opened first), or the
    schedule when ``every`` has passed since the last retrain (or since the monitor began)."""
    live = [c for c in changes if c.change in ("opened", "ongoing") and c.alert.kind in policy.on]
    live.sort(key=lambda c: (c.change != "opened", c.alert.alert_id))
    if live:
        return live[0].alert.kind, live[0].alert.alert_id
    if "schedule" in policy.on and policy.every is not None:
        state = workspace.metadata.monitoring.monitor_state(monitor.name)
        since = state["last_retrain_at"] or monitor.record.created_at
        if now - since >= duration_ms(policy.every):
            return "schedule", None
    return None


@dataclass
class _Decision:
    status: str
    reason: str
    champion: ModelVersion | None = None
    challenger: ModelVersion | None = None
    champion_value: float | None = None
    challenger_value: float | None = None
    n_rows: int | None = None
    promotion: int | None = None


def _execute(
    workspace: Workspace,
    monitor: Monitor,
    started: RetrainRecord,
    now: dt.datetime,
    window: Window | None = None,
) -> RetrainRecord:
    """Run the pipeline, compare, maybe promote; always finish the retrain record."""
    from modelyard.registry import RegistryClient

    policy = monitor.spec.retrain
    assert policy is not None
    registry = RegistryClient(workspace)
    champion = _holder(registry, monitor)
    run_id: str | None = None
    details: dict[str, Any] = {"pipeline": policy.pipeline, "data": policy.data.model_dump()}

    @functools.cache
    def evaluation() -> pa.Table:
        """Read once: the rows held out of training are the rows compared on."""
        return _evaluation_rows(workspace, monitor, now, window)

    try:
        result = _run_pipeline(workspace, monitor, started, now, details, evaluation)
        run_id = result.run_id
        details.update(metrics=result.metrics, gate=result.gate)
        decision = _decide(registry, monitor, champion, result.model_version, started, evaluation)
        if decision.status == "promoted":
            decision.promotion = _promote(registry, policy, decision)
    except Exception as exc:
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, ModelyardError):
            log.exception("retrain %s of monitor %s failed", started.retrain_id, monitor.name)
        decision = _Decision("failed", f"retrain failed: {message}", champion)
    return _finish(workspace, monitor, started, decision, run_id, details)


def _holder(registry: RegistryClient, monitor: Monitor) -> ModelVersion | None:
    try:
        return registry.resolve(monitor.spec.model.uri)
    except NotFoundError:
        return None


def _run_pipeline(
    workspace: Workspace,
    monitor: Monitor,
    started: RetrainRecord,
    now: dt.datetime,
    details: dict[str, Any],
    evaluation: Callable[[], pa.Table],
) -> Any:
    from modelyard.pipeline import load_spec, run

    policy = monitor.spec.retrain
    assert policy is not None
    base = load_spec(policy.pipeline)
    overrides, columns = policy.data.overrides(), None
    if policy.data.from_log is not None:
        overrides, columns = _log_training_data(
            workspace, monitor, base, started, now, evaluation()
        )
        details["training_data"] = overrides["source"]
    spec = _pipeline_spec(base, monitor.spec.model.name, overrides, columns)
    return run(spec, workspace=workspace)


_FEATURE_DATA_KEYS = ("features", "entities", "full_feature_names")


def _pipeline_spec(
    base: LoadedSpec, model: str, overrides: dict[str, Any], columns: set[str] | None
) -> LoadedSpec:
    """The policy's pipeline, pointed at the fresh data, registering into ``model`` without
    promoting (the monitor compares and promotes); a gate's threshold still applies, its
    ``must_beat`` does not (the comparison happens here, on production's own labelled rows).

    ``columns``: the columns of data built from the log; ``data.drop`` and validation rules
    that name other columns (ids the server never saw) are left out.

    A pipeline on the feature store (``data.features``) takes a fresh ``source`` as its labelled
    entity file (the features are joined point-in-time as usual); data from the log becomes a
    plain file source, since the log holds the features the server fetched for each row."""
    from modelyard.pipeline import load_spec

    data = base.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    current = data["data"]
    if "source" in overrides and "features" in current:
        if columns is None:  # a feature-store pipeline: the fresh file is its labelled entities
            overrides = dict(overrides)
            overrides["entities"] = overrides.pop("source")
        else:  # production's labelled traffic already holds the features the server fetched
            current = {k: v for k, v in current.items() if k not in _FEATURE_DATA_KEYS}
    data["data"] = {**current, **overrides}
    if columns is not None:
        data["data"]["drop"] = [c for c in data["data"].get("drop", []) if c in columns]
        rules = (data.get("validation") or {}).get("schema")
        if isinstance(rules, dict):
            data["validation"]["schema"] = {k: v for k, v in rules.items() if k in columns}
    register = dict(data.get("register") or {})
    register["model"] = model
    register.pop("promote_to", None)
    if isinstance(register.get("gate"), dict):
        register["gate"] = {k: v for k, v in register["gate"].items() if k != "must_beat"}
    data["register"] = register
    return load_spec(data, base_dir=base.base_dir)


def _log_training_data(
    workspace: Workspace,
    monitor: Monitor,
    base: LoadedSpec,
    started: RetrainRecord,
    now: dt.datetime,
    evaluation: pa.Table,
) -> tuple[dict[str, Any], set[str]]:
    """Labelled production traffic as a training set in the artifact store: the log's inputs,
    the label as the pipeline's target, the log's time as its timestamp when that is not an
    input. The predictions champion and challenger will be compared on (``evaluation``) are
    left out."""
    import io

    import pyarrow.compute as pc

    from modelyard.errors import DataValidationError
    from modelyard.monitoring.spec import WindowSpec

    policy = monitor.spec.retrain
    assert policy is not None and policy.data.from_log is not None
    window = read_window(
        workspace, monitor.spec.model.name, WindowSpec(last=policy.data.from_log.last), now=now
    )
    rows = _labelled_inputs(workspace, window)
    held_out = evaluation.column("prediction_id")
    rows = rows.filter(pc.invert(pc.is_in(rows.column("prediction_id"), value_set=held_out)))
    needed = policy.data.from_log.min_rows
    if rows.num_rows < needed:
        raise DataValidationError(
            f"only {rows.num_rows} labelled predictions to train on besides the {len(held_out)} "
            f"kept for the comparison ({needed} needed); send more feedback or lower "
            "retrain.data.from_log.min_rows",
            field="retrain.data.from_log",
        )
    frame = features_frame(rows)
    label = rows.column("label").to_pandas()
    integral = label.dtype.kind == "f" and bool((label.dropna() % 1 == 0).all())
    frame[base.spec.data.target] = label.astype("int64") if integral else label
    stamp = base.spec.data.timestamp
    if stamp and stamp not in frame.columns:
        frame[stamp] = rows.column("ts").to_pandas().dt.tz_localize(None)
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    path = f"monitoring/{monitor.name}/retrain-{started.retrain_id}/train.parquet"
    workspace.artifacts.put_bytes(buffer.getvalue(), path)
    source = workspace.artifacts.uri(path)
    return {"source": source, "format": "parquet"}, set(frame.columns)


def _labelled_inputs(workspace: Workspace, window: Window) -> pa.Table:
    """prediction_id, ts, the inputs and the label of the window's labelled predictions."""
    if window.table is None:
        import pyarrow as pa

        return pa.table(
            {"prediction_id": pa.array([], pa.string()), "label": pa.array([], pa.float64())}
        )
    columns = ["prediction_id", "ts", *window.input_columns]
    return labelled(window.table, read_feedback(workspace, start=window.start), columns=columns)


def _decide(
    registry: RegistryClient,
    monitor: Monitor,
    champion: ModelVersion | None,
    challenger: ModelVersion | None,
    started: RetrainRecord,
    evaluation: Callable[[], pa.Table],
) -> _Decision:
    policy = monitor.spec.retrain
    assert policy is not None
    decision = _Decision("not_promoted", "", champion, challenger)
    if challenger is None:
        decision.reason = "the pipeline registered no challenger (its gate failed); see its run"
        return decision
    if champion is not None and challenger.version == champion.version:
        decision.reason = (
            f"the retrained model is v{champion.version}, the champion itself (same training "
            "inputs): the fresh data did not change the model"
        )
        return decision
    rows = evaluation()
    decision.n_rows = rows.num_rows
    needed = policy.evaluation.min_labels
    if rows.num_rows < needed:
        decision.reason = (
            f"only {rows.num_rows} labelled predictions to compare on ({needed} needed); "
            f"challenger v{challenger.version} registered, not promoted"
        )
        return decision
    X, y = features_frame(rows), rows.column("label").to_numpy(zero_copy_only=False)
    value, note = _score(registry, challenger, X, y, policy.metric)
    decision.challenger_value = value
    if value is None:
        decision.reason = f"cannot score the challenger on {policy.metric}: {note}"
        return decision
    if champion is not None:
        decision.champion_value, note = _score(registry, champion, X, y, policy.metric)
        if decision.champion_value is None:
            decision.reason = f"cannot score the champion v{champion.version}: {note}"
            return decision
    decision.status, decision.reason = _verdict(monitor, decision, started)
    return decision


def _evaluation_rows(
    workspace: Workspace, monitor: Monitor, now: dt.datetime, window: Window | None
) -> pa.Table:
    """The newest labelled predictions of the monitor's window (inputs and label); ``window``:
    that window when already read at ``now``."""
    policy = monitor.spec.retrain
    assert policy is not None
    if window is None:
        window = read_window(workspace, monitor.spec.model.name, monitor.spec.window, now=now)
    rows = _labelled_inputs(workspace, window)
    last = policy.evaluation.last
    return rows.slice(max(rows.num_rows - last, 0))


def _score(
    registry: RegistryClient, version: ModelVersion, X: Any, y: np.ndarray, metric: str
) -> tuple[float | None, str]:
    """``metric`` of one registered version on (X, y); (None, why) when it cannot be scored."""
    try:
        model = registry.load_model(f"models:/{version.name}/{version.version}")
        labels = np.asarray(model.predict(X))
        score = None
        if model.has_proba and model.classes and len(model.classes) == 2:
            proba = np.asarray(model.predict_proba(X))
            score = proba[:, list(model.classes).index(positive_class(model.classes))]
    except (ModelyardError, ValueError, TypeError, KeyError) as exc:
        return None, getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
    truth = y.astype(labels.dtype, copy=False) if labels.dtype.kind in "iuf" else y.astype(str)
    result = score_metrics([metric], truth, labels, score, classification=model.classes is not None)
    return result.values[metric], result.notes.get(metric, "")


def _verdict(monitor: Monitor, d: _Decision, started: RetrainRecord) -> tuple[str, str]:
    policy = monitor.spec.retrain
    assert policy is not None and d.challenger is not None and d.challenger_value is not None
    metric, margin = policy.metric, policy.min_improvement
    where = f"on the same {d.n_rows:,} labelled predictions ({monitor.spec.window.describe()})"
    why = _why(started)
    if d.champion is None or d.champion_value is None:
        return "promoted", (
            f"no version held {monitor.spec.model.uri}; challenger v{d.challenger.version} "
            f"{metric} {d.challenger_value:.4f} {where}; {why}"
        )
    better = GREATER_IS_BETTER[metric]
    gain = (d.challenger_value - d.champion_value) * (1 if better else -1)
    scores = (
        f"challenger v{d.challenger.version} {metric} {d.challenger_value:.4f} vs champion "
        f"v{d.champion.version} {d.champion_value:.4f} {where}"
    )
    if gain > 0 and gain >= margin:
        return "promoted", f"{scores}: better by {gain:.4f} (>= min_improvement {margin:g}); {why}"
    relation = "not better" if gain <= 0 else f"better by only {gain:.4f}"
    return "not_promoted", f"{scores}: {relation} (min_improvement {margin:g}); {why}"


def _why(started: RetrainRecord) -> str:
    if started.alert_id is not None:
        return f"trigger: {started.trigger} alert #{started.alert_id}"
    return f"trigger: {started.trigger}"


def _promote(registry: RegistryClient, policy: RetrainSpec, d: _Decision) -> int | None:
    assert d.challenger is not None
    transitions = registry.promote(
        d.challenger.name, d.challenger.version, policy.promote_to, reason=d.reason
    )
    return transitions[-1].transition_id if transitions else None


def _finish(
    workspace: Workspace,
    monitor: Monitor,
    started: RetrainRecord,
    d: _Decision,
    run_id: str | None,
    details: dict[str, Any],
) -> RetrainRecord:
    node = LineageNode("retrain", str(started.retrain_id))
    edges = []
    if run_id is not None:
        edges.append(LineageEdge(node, LineageNode("run", run_id), "ran"))
        _tag_run(workspace, run_id, monitor, started, d)
    if d.champion is not None:
        champion = LineageNode("model_version", f"{d.champion.name}/{d.champion.version}")
        edges.append(LineageEdge(champion, node, "compared"))
    if d.challenger is not None:
        challenger = LineageNode("model_version", f"{d.challenger.name}/{d.challenger.version}")
        if run_id is None or d.challenger.run_id != run_id:
            edges.append(LineageEdge(node, challenger, "produced"))
        if d.promotion is not None:
            edges.append(
                LineageEdge(challenger, LineageNode("promotion", str(d.promotion)), "promoted")
            )
    record = workspace.metadata.monitoring.finish_retrain(
        started.retrain_id,
        status=d.status,
        actor=workspace.user,
        edges=edges,
        run_id=run_id,
        champion_version=d.champion.version if d.champion else None,
        challenger_version=d.challenger.version if d.challenger else None,
        champion_value=d.champion_value,
        challenger_value=d.challenger_value,
        n_rows=d.n_rows,
        reason=d.reason,
        details={**details, "promotion": d.promotion},
    )
    log.warning(
        "monitor %s retrain %s: %s (%s)", monitor.name, record.retrain_id, d.status, d.reason
    )
    return record


def _tag_run(
    workspace: Workspace, run_id: str, monitor: Monitor, started: RetrainRecord, d: _Decision
) -> None:
    from modelyard.tracking import TrackingClient

    client = TrackingClient(workspace)
    client.set_tags(
        run_id,
        {
            TAG: monitor.name,
            f"{TAG}.retrain_id": started.retrain_id,
            f"{TAG}.trigger": started.trigger,
            f"{TAG}.alert_id": started.alert_id if started.alert_id is not None else "",
            f"{TAG}.decision": d.status,
            f"{TAG}.reason": d.reason[:8000],
        },
    )
    metric = started.metric
    values = {
        f"monitor.challenger.{metric}": d.challenger_value,
        f"monitor.champion.{metric}": d.champion_value,
        "monitor.evaluation_rows": d.n_rows,
    }
    present = {k: float(v) for k, v in values.items() if v is not None}
    if present:
        client.log_metrics(run_id, present)
