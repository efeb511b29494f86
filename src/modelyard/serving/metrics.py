"""Prometheus metrics of one model server (prometheus-client, in a registry of its own).

Labelled children are looked up once per (deployment, version, variant, code) and kept, so a
request costs two dictionary lookups and two increments.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

__all__ = ["ServingMetrics"]

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class ServingMetrics:
    def __init__(self) -> None:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            disable_created_metrics,
        )

        disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: half the scrape size, nothing lost
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        labels = ["deployment", "model", "version", "variant"]
        self.requests = Counter(
            "modelyard_requests", "Prediction requests by HTTP status code.", [*labels, "code"],
            registry=reg,
        )  # fmt: skip
        self.latency = Histogram(
            "modelyard_request_latency_seconds", "Time from arrival to answer of a prediction "
            "request.", labels, buckets=LATENCY_BUCKETS, registry=reg,
        )  # fmt: skip
        self.rows = Counter(
            "modelyard_predicted_rows", "Rows answered (a request may hold several).", labels,
            registry=reg,
        )  # fmt: skip
        self.errors = Counter(
            "modelyard_errors", "Requests refused or failed, by kind (invalid, rate_limited, "
            "overloaded, circuit_open, timeout, model_error, not_found, too_large).",
            ["deployment", "kind"], registry=reg,
        )  # fmt: skip
        self.batch_size = Histogram(
            "modelyard_batch_size", "Rows scored in one model call.", ["model", "version"],
            buckets=BATCH_BUCKETS, registry=reg,
        )  # fmt: skip
        self.batch_latency = Histogram(
            "modelyard_batch_seconds", "Time to score one batch (features, cache, model).",
            ["model", "version"], buckets=LATENCY_BUCKETS, registry=reg,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "modelyard_queue_depth", "Requests waiting to be scored.", ["model", "version"],
            registry=reg,
        )  # fmt: skip
        self.cache = Counter(
            "modelyard_cache_lookups", "Prediction cache lookups by result (hit / miss).",
            ["model", "version", "result"], registry=reg,
        )  # fmt: skip
        self.shadow = Counter(
            "modelyard_shadow_predictions", "Rows scored by a shadow model, by outcome.",
            ["deployment", "model", "version", "outcome"], registry=reg,
        )  # fmt: skip
        self.circuit_open = Gauge(
            "modelyard_circuit_open", "1 while a model version's circuit breaker is open.",
            ["model", "version"], registry=reg,
        )  # fmt: skip
        self.models_loaded = Gauge(
            "modelyard_models_loaded", "Model versions in memory.", registry=reg
        )
        self.model_loads = Counter(
            "modelyard_model_loads", "Model versions loaded.", ["model", "version"], registry=reg
        )
        self.evictions = Counter(
            "modelyard_model_evictions", "Model versions evicted (least recently used).",
            ["model", "version"], registry=reg,
        )  # fmt: skip
        self.swaps = Counter(
            "modelyard_deployment_swaps", "A variant moved to another model version.",
            ["deployment", "variant"], registry=reg,
        )  # fmt: skip
        self.log_rows = Counter(
            "modelyard_prediction_log_rows", "Prediction-log rows by outcome (written / dropped).",
            ["outcome"], registry=reg,
        )  # fmt: skip
        self.log_buffer = Gauge(
            "modelyard_prediction_log_buffered_rows", "Rows waiting to be written.", registry=reg
        )
        self._children: dict[tuple[Any, ...], Any] = {}

    def request(self, deployment: str, model: str, version: int, variant: str) -> tuple[Any, Any]:
        """(latency histogram, rows counter) children for one answering variant."""
        key = ("r", deployment, model, version, variant)
        found = self._children.get(key)
        if found is None:
            labels = (deployment, model, str(version), variant)
            found = (self.latency.labels(*labels), self.rows.labels(*labels))
            self._children[key] = found
        return found  # type: ignore[no-any-return]

    def code(
        self, deployment: str, model: str, version: int | None, variant: str, code: int
    ) -> Any:
        key = ("c", deployment, model, version, variant, code)
        found = self._children.get(key)
        if found is None:
            labels = (deployment, model, "" if version is None else str(version), variant)
            found = self.requests.labels(*labels, str(code))
            self._children[key] = found
        return found

    def error(self, deployment: str, kind: str) -> Any:
        key = ("e", deployment, kind)
        found = self._children.get(key)
        if found is None:
            found = self.errors.labels(deployment, kind)
            self._children[key] = found
        return found

    def track(
        self, model: str, version: int, depth: Callable[[], float], open_: Callable[[], float]
    ) -> None:
        """Gauges read at scrape time for one loaded model version."""
        labels = (model, str(version))
        self.queue_depth.labels(*labels).set_function(depth)
        self.circuit_open.labels(*labels).set_function(open_)

    def untrack(self, model: str, version: int) -> None:
        labels = (model, str(version))
        for gauge in (self.queue_depth, self.circuit_open):
            with contextlib.suppress(KeyError):
                gauge.remove(*labels)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
