"""The deployments file: which models a server answers for, and how.

    server:                          # optional: options of the whole process
      max_body_bytes: 1048576
      poll_interval_s: 2
      models: {max_models: 8, max_memory_mb: 2048}
      prediction_log: {enabled: true, flush_interval_s: 5}
    deployments:
      fraud:                         # POST /v1/models/fraud/predict
        variants:
          - {name: champion, model: "models:/fraud@production", weight: 90}
          - {name: challenger, model: "models:/fraud@challenger", weight: 10}
        shadow: {model: "models:/fraud@staging", fraction: 1.0}
        feature_service: fraud_features
        batching: {max_batch_size: 64, max_latency_ms: 5, max_queue: 128}
        cache: {backend: memory, max_entries: 100000}
        rate_limit: {requests_per_s: 200, burst: 400}
        timeout_ms: 1000
        circuit_breaker: {failures: 5, reset_s: 10}

Every section forbids unknown keys; :func:`load_deployments` reports every problem with its
path and line (``deployments.fraud.batching.max_batch_size (line 9): ...``). The reference is
docs/serving.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from modelyard.entities import MODEL_NAME_PATTERN
from modelyard.entities.predictions import SHADOW_VARIANT as PREDICTION_SHADOW_VARIANT
from modelyard.entities.specs import Problems, SpecModel, load_yaml, problems_from
from modelyard.errors import InvalidModelURIError, NotFoundError, SpecError
from modelyard.registry import ModelRef, parse_model_uri

__all__ = [
    "DEFAULT_VARIANT",
    "BatchingSpec",
    "CacheSpec",
    "CircuitBreakerSpec",
    "DeploymentSpec",
    "DeploymentsSpec",
    "PoolSpec",
    "PredictionLogSpec",
    "RateLimitSpec",
    "ServerSpec",
    "ShadowSpec",
    "VariantSpec",
    "load_deployments",
    "single_deployment",
]

DEFAULT_VARIANT = "default"
SHADOW_VARIANT = PREDICTION_SHADOW_VARIANT  # the prediction log's name for shadow rows
_NAME = MODEL_NAME_PATTERN.pattern
_HEADER = r"^[A-Za-z0-9\-]{1,64}$"


def _model_uri(value: str) -> str:
    """A registry URI (``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``)."""
    try:
        ref = parse_model_uri(value)
    except InvalidModelURIError as exc:
        raise ValueError(exc.message) from None
    if not isinstance(ref, ModelRef):
        raise ValueError(
            "a deployment serves registered models: use models:/NAME@ALIAS "
            "(e.g. models:/fraud@production) or models:/NAME/VERSION"
        )
    return value


class BatchingSpec(SpecModel):
    """Adaptive micro-batching: concurrent requests are scored in one call."""

    max_batch_size: int = Field(64, ge=1, le=8192, description="rows scored in one call at most")
    max_latency_ms: float = Field(
        5.0, ge=0, le=1000, description="under load, how long a batch waits to fill at most"
    )
    max_queue: int = Field(
        128, ge=1, description="requests waiting per model version; more get a fast 503"
    )


class CacheSpec(SpecModel):
    """Prediction cache keyed by model version + canonical input row."""

    backend: Literal["memory", "redis"] = "memory"
    max_entries: int = Field(100_000, ge=1, description="memory backend: rows kept (LRU)")
    ttl_s: float | None = Field(None, gt=0, description="forget an entry after this long")
    url: str | None = Field(
        None, description="redis backend: redis://host:6379/0 (default: the online store's)"
    )
    namespace: str = Field("modelyard:cache", pattern=r"^[\w\-.:]{1,100}$")


class RateLimitSpec(SpecModel):
    """A token bucket per client: ``requests_per_s`` sustained, ``burst`` at once.

    The client is its IP address (behind a proxy, with ``server.proxy_headers``, the one the
    proxy forwards). ``client_header`` keys the buckets by a header instead: only for a server
    behind a trusted proxy or gateway that sets that header itself, as a client that may send
    it could pick a fresh bucket for every request."""

    requests_per_s: float = Field(gt=0)
    burst: int | None = Field(None, ge=1, description="default: requests_per_s rounded up")
    client_header: str | None = Field(
        None,
        pattern=_HEADER,
        description="behind a trusted proxy that sets it: the header naming the client "
        "(default: none, the client's IP address)",
    )


class CircuitBreakerSpec(SpecModel):
    """Stop calling a failing model: ``failures`` in a row open the circuit for ``reset_s``."""

    failures: int = Field(5, ge=1)
    reset_s: float = Field(10.0, gt=0)


class VariantSpec(SpecModel):
    name: str = Field(pattern=_NAME)
    model: str
    weight: float = Field(1.0, ge=0, description="share of the traffic (relative)")

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str) -> str:
        return _model_uri(value)


class ShadowSpec(SpecModel):
    """A challenger that sees (a fraction of) the traffic; its answers are logged, not returned."""

    model: str
    fraction: float = Field(1.0, gt=0, le=1)

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str) -> str:
        return _model_uri(value)


class DeploymentSpec(SpecModel):
    model: str | None = Field(None, description="one model (shorthand for one variant)")
    variants: list[VariantSpec] | None = Field(None, min_length=1)
    shadow: ShadowSpec | None = None
    routing_key_header: str = Field(
        "X-Routing-Key", pattern=_HEADER, description="sticky A/B: the same key, the same variant"
    )
    feature_service: str | None = Field(
        None, description="fetch these online features by the entity ids in each request"
    )
    features_as_of: str | None = Field(
        None,
        description="read the online features as of this model input's time (ISO-8601 or "
        "epoch ms) instead of the server's clock, so TTL is checked against it: for replaying "
        "or backfilling past events",
    )
    batching: BatchingSpec = Field(default_factory=BatchingSpec)
    cache: CacheSpec | None = None
    rate_limit: RateLimitSpec | None = None
    timeout_ms: float = Field(5000.0, gt=0, le=600_000)
    circuit_breaker: CircuitBreakerSpec = Field(default_factory=CircuitBreakerSpec)
    preload: bool = Field(False, description="load at start instead of on the first request")

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str | None) -> str | None:
        return None if value is None else _model_uri(value)

    @model_validator(mode="after")
    def _one_model_source(self) -> DeploymentSpec:
        if (self.model is None) == (self.variants is None):
            raise ValueError("give exactly one of 'model' (one model) or 'variants' (A/B)")
        if self.variants is not None:
            names = [v.name for v in self.variants]
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"variant name {twice[0]!r} is used twice")
            if not any(v.weight > 0 for v in self.variants):
                raise ValueError("at least one variant needs a weight above 0")
        return self

    def variant_list(self) -> list[VariantSpec]:
        if self.variants is not None:
            return list(self.variants)
        return [VariantSpec(name=DEFAULT_VARIANT, model=str(self.model), weight=1.0)]


class PoolSpec(SpecModel):
    """Models kept loaded in one process; the least recently used is evicted beyond a bound."""

    max_models: int = Field(16, ge=1)
    max_memory_mb: float | None = Field(
        None, gt=0, description="bound on the models' size on disk (a proxy for memory)"
    )


class PredictionLogSpec(SpecModel):
    enabled: bool = True
    flush_interval_s: float = Field(5.0, gt=0, le=3600)
    flush_rows: int = Field(20_000, ge=1, description="write early once this many rows wait")
    max_buffer_rows: int = Field(
        200_000, ge=1, description="rows held in memory at most; beyond, rows are dropped"
    )


class ServerSpec(SpecModel):
    max_body_bytes: int = Field(1_048_576, ge=1024, description="larger requests get 413")
    poll_interval_s: float = Field(
        2.0, gt=0, le=3600, description="how often the registry is read for moved aliases"
    )
    models: PoolSpec = Field(default_factory=PoolSpec)
    prediction_log: PredictionLogSpec = Field(default_factory=PredictionLogSpec)
    max_loop_lag_ms: float = Field(
        50.0, ge=0, description="answer 503 at once while the event loop lags more (0: never)"
    )
    access_log: bool = True
    proxy_headers: bool = Field(
        False, description="behind a proxy: the client address from X-Forwarded-For"
    )
    scoring_threads: int = Field(
        1, ge=1, le=64, description="threads a model's library may use for one batch"
    )


class DeploymentsSpec(SpecModel):
    server: ServerSpec = Field(default_factory=ServerSpec)
    deployments: dict[str, DeploymentSpec] = Field(min_length=1)

    @field_validator("deployments")
    @classmethod
    def _names(cls, value: dict[str, DeploymentSpec]) -> dict[str, DeploymentSpec]:
        for name in value:
            if not MODEL_NAME_PATTERN.match(name):
                raise ValueError(
                    f"deployment name {name!r} must be letters, digits and . _ - (it is part "
                    "of the URL /v1/models/NAME/predict)"
                )
        return value


def load_deployments(source: str | os.PathLike[str] | dict[str, Any]) -> DeploymentsSpec:
    """Read and check a deployments file (or a dict); every problem is reported with its path."""
    text: str | None = None
    what = "the deployments spec"
    if isinstance(source, dict):
        data: Any = source
    else:
        path = Path(source)
        if not path.is_file():
            raise NotFoundError(
                f"Deployments file {str(path)!r} does not exist. See docs/serving.md for the "
                "format.",
                path=str(path),
            )
        text, what = path.read_text(), str(path)
        data = load_yaml(text, what)
    if not isinstance(data, dict):
        raise SpecError(
            f"{what} must hold a mapping with a 'deployments:' section, got "
            f"{type(data).__name__}. See docs/serving.md.",
            field="deployments",
        )
    problems = Problems(what=what, text=text)
    try:
        return DeploymentsSpec.model_validate(data)
    except ValidationError as exc:
        problems.extend(problems_from(exc, DeploymentsSpec))
        problems.raise_if_any()
        raise  # pragma: no cover - raise_if_any raised


def single_deployment(
    model_uri: str, *, name: str | None = None, **options: Any
) -> DeploymentsSpec:
    """The spec ``modelyard serve models:/NAME@ALIAS`` serves: one deployment named after the
    model (``options`` are DeploymentSpec fields; ``server`` may hold ServerSpec fields)."""
    server = options.pop("server", {})
    try:
        ref = parse_model_uri(model_uri)
    except InvalidModelURIError as exc:
        raise SpecError(exc.message, field="model", value=model_uri) from None
    if not isinstance(ref, ModelRef):
        raise SpecError(
            f"{model_uri!r} is not a registered model; serve models:/NAME@ALIAS or "
            "models:/NAME/VERSION (register it first with `modelyard models register`).",
            field="model",
            value=model_uri,
        )
    return load_deployments(
        {
            "server": server,
            "deployments": {name or ref.name: {"model": model_uri, "preload": True, **options}},
        }
    )
