"""Prometheus metrics of one model server (prometheus-client, in a registry of its own).

The per-request series (requests by status code, rows, the latency histogram, errors by kind)
are plain numbers updated on the event loop thread, the only thread that touches them, and
turned into metric families when /metrics is read (a collector): a request costs a few
dictionary and list updates, no lock. Per-batch and rare series are prometheus-client metrics.
"""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["ENTRY_LABELS", "RequestSeries", "ServingMetrics"]

ENTRY_LABELS = ("deployment", "model", "version", "variant")
"""the labels of the per-batch series (batch size and time, queue depth, circuit, cache): a
model version loaded for a deployment, and the variant it was loaded for (two variants of one
deployment on the same version share it: the first one's name)"""

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class RequestSeries:
    """Latency histogram and row count of one (deployment, model, version, variant)."""

    __slots__ = ("buckets", "count", "labels", "rows", "total")

    def __init__(self, labels: tuple[str, ...]) -> None:
        self.labels = labels
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.count = 0
        self.total = 0.0
        self.rows = 0

    def observe(self, seconds: float, rows: int) -> None:
        self.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.count += 1
        self.total += seconds
        self.rows += rows


class _RequestCollector:
    """Yields the per-request series at scrape time."""

    LABELS = ("deployment", "model", "version", "variant")

    def __init__(self) -> None:
        self.series: dict[tuple[Any, ...], RequestSeries] = {}
        self.codes: dict[tuple[str, ...], int] = {}
        """refused or failed requests by status code (the 200s are the series' counts)"""
        self.errors: dict[tuple[str, ...], int] = {}

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        codes = CounterMetricFamily(
            "modelyard_requests", "Prediction requests by HTTP status code.",
            labels=[*self.LABELS, "code"],
        )  # fmt: skip
        for series in list(self.series.values()):  # a successful request is a 200
            codes.add_metric([*series.labels, "200"], series.count)
        for labels, value in list(self.codes.items()):
            codes.add_metric(list(labels), value)
        yield codes
        rows = CounterMetricFamily(
            "modelyard_predicted_rows", "Rows answered (a request may hold several).",
            labels=list(self.LABELS),
        )  # fmt: skip
        latency = HistogramMetricFamily(
            "modelyard_request_latency_seconds",
            "Time from arrival to answer of a prediction request.",
            labels=list(self.LABELS),
        )
        bounds = [*(repr(b) for b in LATENCY_BUCKETS), "+Inf"]
        for series in list(self.series.values()):
            rows.add_metric(list(series.labels), series.rows)
            cumulative, buckets = 0, []
            for bound, n in zip(bounds, series.buckets):
                cumulative += n
                buckets.append((bound, cumulative))
            latency.add_metric(list(series.labels), buckets, series.total)
        yield rows
        yield latency
        errors = CounterMetricFamily(
            "modelyard_errors", "Requests refused or failed, by kind (invalid, rate_limited, "
            "overloaded, busy, circuit_open, timeout, model_error, not_found, too_large, error); "
            "model, version and variant are empty when refused before a variant was chosen.",
            labels=[*self.LABELS, "kind"],
        )  # fmt: skip
        for labels, value in list(self.errors.items()):
            errors.add_metric(list(labels), value)
        yield errors


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
        self._requests = _RequestCollector()
        reg.register(self._requests)  # type: ignore[arg-type]
        entry = list(ENTRY_LABELS)  # one model version loaded for one deployment
        self.batch_size = Histogram(
            "modelyard_batch_size", "Rows scored in one model call.", entry,
            buckets=BATCH_BUCKETS, registry=reg,
        )  # fmt: skip
        self.batch_latency = Histogram(
            "modelyard_batch_seconds", "Time to score one batch (features, cache, model).",
            entry, buckets=LATENCY_BUCKETS, registry=reg,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "modelyard_queue_depth", "Requests waiting to be scored.", entry, registry=reg
        )
        self.cache = Counter(
            "modelyard_cache_lookups", "Prediction cache lookups by result (hit / miss).",
            [*entry, "result"], registry=reg,
        )  # fmt: skip
        self.shadow = Counter(
            "modelyard_shadow_predictions", "Rows scored by a shadow model, by outcome.",
            ["deployment", "model", "version", "outcome"], registry=reg,
        )  # fmt: skip
        self.circuit_open = Gauge(
            "modelyard_circuit_open", "1 while a model version's circuit breaker is open.",
            entry, registry=reg,
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
        self.loop_lag = Gauge(
            "modelyard_event_loop_lag_seconds", "How late the event loop runs a timer (moving "
            "average): the wait of a request that arrives now.", registry=reg,
        )  # fmt: skip
        self.log_buffer = Gauge(
            "modelyard_prediction_log_buffered_rows", "Rows waiting to be written.", registry=reg
        )

    def request(self, deployment: str, model: str, version: int, variant: str) -> RequestSeries:
        """The series a successful request of this variant is counted in."""
        key = (deployment, model, version, variant)
        found = self._requests.series.get(key)
        if found is None:
            found = RequestSeries((deployment, model, str(version), variant))
            self._requests.series[key] = found
        return found

    def failure(self, labels: tuple[str, str, str, str], code: int, kind: str) -> None:
        """One refused or failed request, by status code and by kind. ``labels``: deployment,
        model, version and variant (the last three empty when refused before a variant)."""
        req = self._requests
        for table, key in ((req.codes, (*labels, str(code))), (req.errors, (*labels, kind))):
            table[key] = table.get(key, 0) + 1

    def track(
        self, labels: tuple[str, ...], depth: Callable[[], float], open_: Callable[[], float]
    ) -> None:
        """Gauges read at scrape time for one loaded model version (``ENTRY_LABELS``)."""
        self.queue_depth.labels(*labels).set_function(depth)
        self.circuit_open.labels(*labels).set_function(open_)

    def untrack(self, labels: tuple[str, ...]) -> None:
        for gauge in (self.queue_depth, self.circuit_open):
            with contextlib.suppress(KeyError):
                gauge.remove(*labels)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
