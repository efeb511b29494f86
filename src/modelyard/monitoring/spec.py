"""The monitor spec: what a monitor watches, over which window, how often, which checks, which
alert rules, where alerts go, and when to retrain. A YAML file or a mapping; every section is a
pydantic model with ``extra="forbid"``, and every problem is reported with its path at once.

    name: fraud-production
    model: models:/fraud-detector@production
    window: {last: 5000}            # or {span: 1h}
    schedule: {every: 5m}
    checks: {drift: {numeric: ks}, performance: {}, service: {}}
    alerts: ["accuracy < 0.9", {metric: error_rate, op: ">", threshold: 0.01}]
    sinks: [{type: log}, {type: webhook, url: "https://hooks.example/ml", secret: s3cr3t}]
    retrain: {on: [drift, performance], pipeline: pipeline.yaml, metric: roc_auc}

Reference: docs/monitoring.md.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from modelyard.entities import ALIAS_PATTERN, MODEL_NAME_PATTERN
from modelyard.entities.specs import SpecModel

__all__ = [
    "CommandSink",
    "DriftCheck",
    "LogSink",
    "METRICS",
    "ModelTarget",
    "MonitorSpec",
    "PerformanceCheck",
    "RetrainData",
    "RetrainSpec",
    "RuleSpec",
    "ServiceCheck",
    "Sink",
    "WebhookSink",
    "WindowSpec",
    "default_rules",
    "duration_ms",
]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")

PERFORMANCE_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "rmse", "mae", "r2")
SERVICE_METRICS = (
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "error_rate",
    "rejected_rate",
)
DRIFT_METRICS = (
    "drift_share",
    "drifted_features",
    "dataset_drift",
    "prediction_drift",
    "max_psi",
    "min_p_value",
)
METRICS: dict[str, str] = {
    **dict.fromkeys(PERFORMANCE_METRICS, "performance"),
    **dict.fromkeys(SERVICE_METRICS, "service"),
    **dict.fromkeys(DRIFT_METRICS, "drift"),
}
"""every metric an alert rule can watch -> the check that produces it"""

GREATER_IS_BETTER = {
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "roc_auc": True,
    "average_precision": True,
    "r2": True,
    "rmse": False,
    "mae": False,
    "log_loss": False,
}
"""metrics a retrain can compare champion and challenger on"""


def duration_ms(value: Any) -> int:
    """``"90s"``, ``"10m"``, ``"1h"``, ``"7d"`` (or a number of seconds) as milliseconds; a
    ValueError (which pydantic reports with its path) when it is not a positive duration."""
    from modelyard.errors import InvalidArgumentError
    from modelyard.features import parse_duration

    try:
        ms = parse_duration(value)
    except InvalidArgumentError as exc:
        raise ValueError(exc.message.rstrip(".")) from None
    if ms <= 0:
        raise ValueError(f"a duration must be positive (got {value!r})")
    return ms


def _duration_text(value: Any) -> Any:
    if value is None:
        return value
    duration_ms(value)  # raises ValueError with the message pydantic reports
    return str(value) if not isinstance(value, (int, float)) else f"{int(value)}s"


Duration = Annotated[str, BeforeValidator(_duration_text)]


# -- what is watched -------------------------------------------------------------------------
class ModelTarget(SpecModel):
    """A registered model and the alias (or stage) whose holder is watched, or a pinned version."""

    name: str = Field(pattern=MODEL_NAME_PATTERN.pattern)
    alias: str | None = Field(default=None, pattern=ALIAS_PATTERN.pattern)
    version: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one(self) -> ModelTarget:
        if self.alias is not None and self.version is not None:
            raise ValueError("give either alias or version, not both")
        if self.alias is None and self.version is None:
            self.alias = "production"
        return self

    @property
    def uri(self) -> str:
        if self.version is not None:
            return f"models:/{self.name}/{self.version}"
        return f"models:/{self.name}@{self.alias}"


def _model_target(value: Any) -> Any:
    """``models:/fraud@production`` / ``models:/fraud/3`` / a bare name -> a ModelTarget mapping."""
    if not isinstance(value, str):
        return value
    if not value.startswith("models:"):
        return {"name": value}
    from modelyard.errors import InvalidModelURIError
    from modelyard.registry import ModelRef, parse_model_uri

    try:
        ref = parse_model_uri(value)
    except InvalidModelURIError as exc:
        raise ValueError(exc.message.rstrip(".")) from None
    assert isinstance(ref, ModelRef)
    if ref.version is not None:
        return {"name": ref.name, "version": ref.version}
    return {"name": ref.name, "alias": ref.alias}


class WindowSpec(SpecModel):
    """The predictions a check looks at: the newest ``last`` rows, or those of the last ``span``."""

    last: int | None = Field(default=None, ge=1, le=10_000_000)
    span: Duration | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> WindowSpec:
        if (self.last is None) == (self.span is None):
            raise ValueError("give exactly one of last (a number of predictions) or span (1h)")
        return self

    @property
    def span_ms(self) -> int | None:
        return None if self.span is None else duration_ms(self.span)

    def describe(self) -> str:
        return f"last {self.last:,} predictions" if self.last else f"last {self.span}"


class ScheduleSpec(SpecModel):
    every: Duration = "5m"

    @property
    def every_ms(self) -> int:
        return duration_ms(self.every)


# -- checks ----------------------------------------------------------------------------------
NumericMethod = Literal["ks", "wasserstein", "psi", "js"]
CategoricalMethod = Literal["chi2", "psi", "js"]


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class DriftCheck(SpecModel):
    """Input (and prediction) drift against the reference profile of the watched version.
    ``numeric`` / ``categorical``: one method or a list (a feature drifted if any flags)."""

    numeric: Annotated[list[NumericMethod], BeforeValidator(_as_list)] = Field(
        default=["ks"], min_length=1
    )
    categorical: Annotated[list[CategoricalMethod], BeforeValidator(_as_list)] = Field(
        default=["chi2"], min_length=1
    )
    alpha: float = Field(default=0.05, gt=0, lt=1)
    """p-value methods (ks, chi2) flag when the corrected p-value is below it"""
    correction: Literal["holm", "bonferroni", "bh", "by", "none"] = "holm"
    psi_threshold: float = Field(default=0.2, gt=0)
    js_threshold: float = Field(default=0.1, gt=0)
    wasserstein_threshold: float = Field(default=0.1, gt=0)
    drift_share: float = Field(default=0.5, gt=0, le=1)
    """the dataset drifted when this share of the tested features drifted"""
    features: list[str] | None = None
    """default: every numeric and categorical feature of the profile"""
    min_rows: int = Field(default=30, ge=1)
    predictions: bool = True
    """also compare the distribution of predictions with the profile's"""

    @property
    def methods(self) -> set[str]:
        return {*self.numeric, *self.categorical}


class PerformanceCheck(SpecModel):
    """Quality on the predictions of the window that received a true label (feedback)."""

    metrics: list[Literal[PERFORMANCE_METRICS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["accuracy", "precision", "recall", "f1", "roc_auc"], min_length=1
    )
    min_labels: int = Field(default=30, ge=1)
    """fewer labelled predictions than this: "not enough data" (no alert opens or resolves)"""


class ServiceCheck(SpecModel):
    """Latency and errors of the model server, from the prediction log."""

    min_rows: int = Field(default=1, ge=1)


def _off_means_none(value: Any) -> Any:
    if value is False:
        return None
    return {} if value is True else value


class ChecksSpec(SpecModel):
    """Each check is on by default; ``false`` turns one off."""

    drift: Annotated[DriftCheck | None, BeforeValidator(_off_means_none)] = Field(
        default_factory=DriftCheck
    )
    performance: Annotated[PerformanceCheck | None, BeforeValidator(_off_means_none)] = Field(
        default_factory=PerformanceCheck
    )
    service: Annotated[ServiceCheck | None, BeforeValidator(_off_means_none)] = Field(
        default_factory=ServiceCheck
    )


# -- alert rules -----------------------------------------------------------------------------
Op = Literal["<", "<=", ">", ">="]
_RULE_TEXT = re.compile(
    r"^\s*([A-Za-z_][\w]*)\s*(<=|>=|<|>)\s*([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?%?)\s*$"
)


def _rule(value: Any) -> Any:
    """``"accuracy < 0.85"`` (or ``"error_rate > 5%"``) -> a RuleSpec mapping."""
    if not isinstance(value, str):
        return value
    match = _RULE_TEXT.match(value)
    if match is None:
        raise ValueError("write a rule as 'METRIC OP THRESHOLD', e.g. 'accuracy < 0.85'")
    metric, op, number = match.groups()
    threshold = float(number[:-1]) / 100 if number.endswith("%") else float(number)
    return {"metric": metric, "op": op, "threshold": threshold}


class RuleSpec(SpecModel):
    """Alert when ``metric op threshold`` holds (e.g. accuracy < 0.85)."""

    metric: str
    op: Op
    threshold: float
    name: str | None = Field(default=None, min_length=1, max_length=200)
    """default: the rule as text, e.g. 'accuracy < 0.85'; one open alert per monitor and name"""
    severity: Literal["info", "warning", "critical"] = "warning"

    @field_validator("metric")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in METRICS:
            import difflib

            close = difflib.get_close_matches(value, list(METRICS), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"unknown metric {value!r}; {hint}known: {', '.join(METRICS)}")
        return value

    @property
    def kind(self) -> str:
        return METRICS[self.metric]

    @property
    def rule_name(self) -> str:
        return self.name or f"{self.metric} {self.op} {self.threshold:g}"

    def breached(self, value: float) -> bool:
        return {
            "<": value < self.threshold,
            "<=": value <= self.threshold,
            ">": value > self.threshold,
            ">=": value >= self.threshold,
        }[self.op]


Rule = Annotated[RuleSpec, BeforeValidator(_rule)]


# -- sinks -----------------------------------------------------------------------------------
Event = Literal["opened", "resolved"]


def _both_events() -> list[Event]:
    return ["opened", "resolved"]


class _SinkBase(SpecModel):
    events: list[Event] = Field(default_factory=_both_events, min_length=1)
    min_severity: Literal["info", "warning", "critical"] = "info"


class LogSink(_SinkBase):
    """A structured log line on the ``modelyard.monitoring`` logger."""

    type: Literal["log"]
    level: Literal["info", "warning", "error"] = "warning"


class WebhookSink(_SinkBase):
    """An HTTP POST of the alert as JSON; with a secret, signed like the registry's webhooks
    (``X-Modelyard-Signature: sha256=HMAC(secret, "<timestamp>." + body)``)."""

    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://\S+$")
    secret: str | None = Field(default=None, min_length=1)
    timeout_s: float = Field(default=5.0, gt=0, le=120)
    attempts: int = Field(default=3, ge=1, le=10)


class CommandSink(_SinkBase):
    """A program run with the alert JSON on stdin (no shell); a non-zero exit is a failure."""

    type: Literal["command"]
    command: list[str] = Field(min_length=1)
    timeout_s: float = Field(default=30.0, gt=0, le=3600)

    @field_validator("command", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            import shlex

            return shlex.split(value)
        return value


Sink = Annotated[LogSink | WebhookSink | CommandSink, Field(discriminator="type")]


# -- continuous training ---------------------------------------------------------------------
class LogData(SpecModel):
    """Train on production's own labelled predictions: the prediction log's inputs joined with
    the feedback labels (the rows champion and challenger are compared on are left out)."""

    last: int = Field(default=50_000, ge=1)
    """look at the newest N predictions of the log"""
    min_rows: int = Field(default=200, ge=1)
    """fewer labelled rows to train on than this: the retrain fails with that reason"""


class RetrainData(SpecModel):
    """Where the fresh training data comes from: ``source`` (with ``format`` / ``options``)
    replaces the pipeline's data source, or ``from_log`` trains on labelled production traffic.
    Neither: the pipeline's own data section as it is."""

    source: str | None = Field(default=None, min_length=1)
    format: Literal["parquet", "csv", "json", "jsonl", "avro"] | None = None
    options: dict[str, Any] | None = None
    from_log: Annotated[LogData | None, BeforeValidator(_off_means_none)] = None

    @model_validator(mode="after")
    def _one_source(self) -> RetrainData:
        if self.from_log is not None and self.source is not None:
            raise ValueError("give either source or from_log, not both")
        return self

    def overrides(self) -> dict[str, Any]:
        """The keys merged into the pipeline's data section."""
        return self.model_dump(exclude_none=True, exclude={"from_log"})


class EvaluationSpec(SpecModel):
    """The labelled predictions champion and challenger are both scored on."""

    last: int = Field(default=5000, ge=1)
    """the newest N labelled predictions of the log"""
    min_labels: int = Field(default=100, ge=1)


class RetrainSpec(SpecModel):
    """Retrain with a pipeline when an alert of a kind in ``on`` is open (or on schedule), then
    promote the challenger only if it beats the champion by ``min_improvement``."""

    on: list[Literal["drift", "performance", "service", "schedule"]] = Field(min_length=1)
    every: Duration | None = None
    """with ``on: [schedule]``: retrain this often"""
    pipeline: str = Field(min_length=1)
    """the pipeline spec (YAML) to run; relative to the monitor file"""
    data: RetrainData = Field(default_factory=RetrainData)
    metric: str = "roc_auc"
    min_improvement: float = Field(default=0.0, ge=0)
    promote_to: Literal["staging", "production"] = "production"
    cooldown: Duration = "1h"
    """no new retrain within this time of the last one"""
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        """YAML 1.1 reads an unquoted ``on:`` key as the boolean true."""
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data

    @field_validator("metric")
    @classmethod
    def _comparable(cls, value: str) -> str:
        if value not in GREATER_IS_BETTER:
            raise ValueError(
                f"cannot compare models on {value!r}; use one of {', '.join(GREATER_IS_BETTER)}"
            )
        return value

    @model_validator(mode="after")
    def _schedule(self) -> RetrainSpec:
        if "schedule" in self.on and self.every is None:
            raise ValueError("on: [schedule] needs every (e.g. every: 7d)")
        return self

    @property
    def cooldown_ms(self) -> int:
        return duration_ms(self.cooldown)


def _log_sink() -> list[Sink]:
    return [LogSink(type="log")]


# -- the monitor -----------------------------------------------------------------------------
class MonitorSpec(SpecModel):
    name: str = Field(pattern=NAME_PATTERN.pattern)
    description: str = ""
    model: Annotated[ModelTarget, BeforeValidator(_model_target)]
    window: WindowSpec = Field(default_factory=lambda: WindowSpec(last=5000))
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    checks: ChecksSpec = Field(default_factory=ChecksSpec)
    alerts: list[Rule] = Field(default_factory=list)
    """rules added to (and, for the same metric, replacing) the defaults"""
    default_alerts: bool = True
    sinks: list[Sink] = Field(default_factory=_log_sink)
    retrain: RetrainSpec | None = None

    @model_validator(mode="after")
    def _rules_have_checks(self) -> MonitorSpec:
        problems = []
        for i, rule in enumerate(self.alerts):
            if getattr(self.checks, rule.kind) is None:
                problems.append(
                    f"alerts[{i}] watches {rule.metric!r}, a {rule.kind} metric, but "
                    f"checks.{rule.kind} is off"
                )
            perf = self.checks.performance
            if rule.kind == "performance" and perf is not None and rule.metric not in perf.metrics:
                problems.append(
                    f"alerts[{i}] watches {rule.metric!r}; add it to checks.performance.metrics"
                )
        names = [r.rule_name for r in self.alerts]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            problems.append(f"alert rule names must be unique: {', '.join(duplicates)}")
        if self.retrain is not None:
            for trigger in self.retrain.on:
                if trigger != "schedule" and getattr(self.checks, trigger) is None:
                    problems.append(f"retrain.on has {trigger!r} but checks.{trigger} is off")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def rules(self) -> list[RuleSpec]:
        """The rules in force: the defaults of the enabled checks (unless ``default_alerts`` is
        false), with any rule given for the same metric replacing its default."""
        given = {r.metric for r in self.alerts}
        defaults = default_rules(self) if self.default_alerts else []
        return [r for r in defaults if r.metric not in given] + list(self.alerts)


def default_rules(spec: MonitorSpec) -> list[RuleSpec]:
    """accuracy < 0.85, precision < 0.80, recall < 0.80, latency p95 > 100 ms, error rate > 5 %,
    PSI > 0.2 (with psi), corrected p-value < 0.05 (with ks / chi2), any drifted feature (with
    wasserstein / js, whose thresholds are the detector's)."""
    rules: list[RuleSpec] = []
    perf = spec.checks.performance
    if perf is not None:
        for metric, threshold in (("accuracy", 0.85), ("precision", 0.80), ("recall", 0.80)):
            if metric in perf.metrics:
                rules.append(RuleSpec(metric=metric, op="<", threshold=threshold))
    if spec.checks.service is not None:
        rules.append(RuleSpec(metric="latency_p95_ms", op=">", threshold=100.0))
        rules.append(RuleSpec(metric="error_rate", op=">", threshold=0.05))
    drift = spec.checks.drift
    if drift is not None:
        if "psi" in drift.methods:
            rules.append(RuleSpec(metric="max_psi", op=">", threshold=drift.psi_threshold))
        if drift.methods & {"ks", "chi2"}:
            rules.append(RuleSpec(metric="min_p_value", op="<", threshold=drift.alpha))
        if drift.methods & {"wasserstein", "js"}:
            rules.append(RuleSpec(metric="drifted_features", op=">", threshold=0))
    return rules
