"""Loaded model versions: how one is scored (features, cache, model) and the LRU pool of them.

A :class:`ModelEntry` is one registered version in memory with its input schema, its batcher
and its circuit breaker. Its :meth:`ModelEntry.score` runs in the batcher's thread: fetch the
batch's online features (one read), look the rows up in the prediction cache (one round
trip), build ONE frame of the rows left, call the model once, store the new answers. When a
batch fails, each request in it is scored alone, so one bad request does not fail the others.

The :class:`ModelPool` keeps at most ``max_models`` versions (and, when given, at most
``max_memory_mb`` of model files) and evicts the least recently used.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelyard.errors import ModelyardError
from modelyard.flavors import LoadedModel
from modelyard.serving.batching import BatchOutcome, MicroBatcher, WorkItem
from modelyard.serving.cache import cache_key
from modelyard.serving.inputs import InputSchema
from modelyard.serving.protection import CircuitBreaker

__all__ = ["FeatureSource", "ModelEntry", "ModelFailedError", "ModelPool", "Scored"]

log = logging.getLogger("modelyard.serving")


class ModelFailedError(ModelyardError):
    """The model raised while scoring a request (HTTP 500)."""


@dataclass(frozen=True, slots=True)
class FeatureSource:
    """Online features a model needs: a feature service or ``view:feature`` references."""

    features: str | tuple[str, ...]
    full_names: bool = False

    def describe(self) -> str:
        if isinstance(self.features, str):
            return f"feature service {self.features!r}"
        return f"{len(self.features)} feature references"


@dataclass(slots=True)
class Scored:
    """One request's answer."""

    predictions: list[Any]
    proba: list[list[float]] | None
    rows: list[list[Any]]
    """the model's inputs, online features filled in (what the prediction log records)"""
    cache_hits: int = 0


@dataclass
class FeaturePlan:
    source: FeatureSource
    store: Any
    """a modelyard.features.FeatureStore"""
    names: list[str]
    """the features' names in the fetched order"""
    positions: list[int]
    """each fetched feature's column in the signature (-1: the model does not use it)"""
    keys: tuple[str, ...]
    """the entity join keys a request must carry"""
    as_of: int = -1
    """the input column whose time the features are read as of (-1: the server's clock)"""


class ModelEntry:
    def __init__(
        self,
        *,
        name: str,
        version: int,
        model: LoadedModel,
        features: FeaturePlan | None,
        batching: Any,
        breaker: CircuitBreaker,
        thread_init: Callable[[], None] | None = None,
        metrics: Any = None,
        deployment: str = "",
        variant: str = "",
    ) -> None:
        self.deployment = deployment
        self.variant = variant
        """the variant it was loaded for (its metrics' label)"""
        self.name = name
        self.version = version
        self.model = model
        self.features = features
        provided = (
            [n for n, p in zip(features.names, features.positions) if p >= 0] if features else []
        )
        self.schema = InputSchema(
            model.signature, provided=provided, keys=features.keys if features else ()
        )
        self.breaker = breaker
        self.metrics = metrics
        self._matrix = self.schema.all_float and model.takes_matrix
        self.classes = model.classes if model.has_proba else None
        self.size_bytes = sum(int(f.get("size", 0)) for f in model.manifest.files.values())
        self.input_types = [c.type for c in model.signature.inputs] if model.signature else []
        labels = self.metric_labels = (deployment, name, str(version), variant)
        self._batch_hist = metrics.batch_size.labels(*labels) if metrics else None
        self._batch_time = metrics.batch_latency.labels(*labels) if metrics else None
        self._hits = metrics.cache.labels(*labels, "hit") if metrics else None
        self._misses = metrics.cache.labels(*labels, "miss") if metrics else None
        self.batcher = MicroBatcher(
            self.score,
            max_batch_size=batching.max_batch_size,
            max_latency_ms=batching.max_latency_ms,
            max_queue=batching.max_queue,
            thread_name=f"score-{name}-{version}",
            thread_init=thread_init,
            on_batch=self._on_batch,
        )

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.deployment, self.name, self.version)

    def _on_batch(self, rows: int, seconds: float, model_failed: bool) -> None:
        self.breaker.record(not model_failed)
        if self._batch_hist is not None:
            self._batch_hist.observe(rows)
            self._batch_time.observe(seconds)  # type: ignore[union-attr]

    # -- scoring (in the batcher's thread) ----------------------------------------------------
    def score(self, items: Sequence[WorkItem]) -> BatchOutcome:
        if self.features is not None:
            try:
                self._fill_features(items)
            except ModelyardError as exc:
                return BatchOutcome([exc] * len(items))
            except Exception as exc:
                error = ModelyardError(f"Reading the online features failed: {exc!r}")
                return BatchOutcome([error] * len(items))
        rows = [row for item in items for row in item.rows]
        answers, keys = self._cached(items, rows)
        missing = [i for i, answer in enumerate(answers) if answer is None]
        if missing:
            try:
                predictions, proba = self.predict([rows[i] for i in missing])
            except Exception as exc:
                if len(items) > 1:
                    return self._one_by_one(items)
                return BatchOutcome([_failed(self, exc)], model_failed=True)
            new: list[tuple[bytes, Any]] = []
            for j, i in enumerate(missing):
                answer = (predictions[j], proba[j] if proba is not None else None)
                answers[i] = answer
                key = keys[i]
                if key is not None:
                    new.append((key, answer))
            self._store(items, keys, new)
        return BatchOutcome(self._split(items, answers, set(missing)))

    def predict(self, rows: list[list[Any]]) -> tuple[list[Any], list[list[float]] | None]:
        if self._matrix:  # all-float inputs and a model that takes an array: no frame at all
            predictions, proba = self.model.predict_matrix(np.array(rows, dtype=np.float64))
            return predictions.tolist(), (proba.tolist() if proba is not None else None)
        frame = self.schema.frame(rows)
        if self.schema.names is None:
            frame = self.model.prepare(frame)
        predictions, proba = self.model.predict_prepared(frame)
        return predictions.tolist(), (proba.tolist() if proba is not None else None)

    def _one_by_one(self, items: Sequence[WorkItem]) -> BatchOutcome:
        results: list[Any] = []
        failures = 0
        for item in items:
            result = self.score([item]).results[0]
            failures += isinstance(result, ModelFailedError)
            results.append(result)
        return BatchOutcome(results, model_failed=failures == len(items))

    def _fill_features(self, items: Sequence[WorkItem]) -> None:
        plan = self.features
        assert plan is not None
        keys = [k for item in items for k in item.keys]
        rows = [row for item in items for row in item.rows]
        at = [row[plan.as_of] for row in rows] if plan.as_of >= 0 else None
        fetched = plan.store.get_online_features(
            plan.source.features, keys, now=at, full_feature_names=plan.source.full_names
        ).values
        for row, values in zip(rows, fetched):
            for pos, value in zip(plan.positions, values):
                if pos >= 0:
                    row[pos] = value

    def _cached(
        self, items: Sequence[WorkItem], rows: list[list[Any]]
    ) -> tuple[list[Any], list[bytes | None]]:
        answers: list[Any] = [None] * len(rows)
        keys: list[bytes | None] = [None] * len(rows)
        start = 0
        for item in items:
            n = len(item.rows)
            if item.cache is not None:
                item_keys = [
                    cache_key(self.name, self.version, self.schema.canonical(r)) for r in item.rows
                ]
                keys[start : start + n] = item_keys
                try:
                    got = item.cache.get_many(item_keys)
                except ModelyardError as exc:  # the cache is down: score, do not fail
                    log.warning("prediction cache unavailable: %s", exc.message)
                    got = [None] * n
                hits = sum(g is not None for g in got)
                if self._hits is not None:
                    self._hits.inc(hits)
                    self._misses.inc(n - hits)  # type: ignore[union-attr]
                answers[start : start + n] = got
            start += n
        return answers, keys

    def _store(
        self, items: Sequence[WorkItem], keys: list[bytes | None], new: list[tuple[bytes, Any]]
    ) -> None:
        caches = {id(item.cache): item.cache for item in items if item.cache is not None}
        for cache in caches.values():
            try:
                cache.set_many(new)
            except ModelyardError as exc:
                log.warning("prediction cache unavailable: %s", exc.message)

    def _split(self, items: Sequence[WorkItem], answers: list[Any], scored: set[int]) -> list[Any]:
        out: list[Any] = []
        start = 0
        has_proba = self.classes is not None
        for item in items:
            n = len(item.rows)
            part = answers[start : start + n]
            hits = sum(1 for i in range(start, start + n) if i not in scored) if scored else n
            proba = [a[1] for a in part] if has_proba else None
            out.append(Scored([a[0] for a in part], proba, item.rows, hits))
            start += n
        return out

    def warm_up(self) -> None:
        """Score one made-up row so the first request does not pay for lazy initialization."""
        sig = self.model.signature
        if sig is None:
            return
        defaults = {"float": 0.0, "integer": 0, "boolean": False, "string": "", "datetime": None}
        row = [defaults.get(c.type) for c in sig.inputs]
        try:
            self.predict([row])
        except Exception:  # a model may refuse made-up values; the first request will tell
            log.debug("warm-up of %s/%s skipped", self.name, self.version, exc_info=True)

    def close(self) -> None:
        self.batcher.close()


def _failed(entry: ModelEntry, exc: BaseException) -> ModelFailedError:
    return ModelFailedError(
        f"Model {entry.name} version {entry.version} failed to score the request: "
        f"{type(exc).__name__}: {exc}",
        model=entry.name,
        version=entry.version,
        cause=type(exc).__name__,
    )


class ModelPool:
    """Loaded versions, least recently used first; evicts beyond ``max_models`` / memory."""

    def __init__(
        self,
        *,
        max_models: int,
        max_memory_bytes: float | None = None,
        on_evict: Callable[[ModelEntry], None] | None = None,
    ) -> None:
        self.max_models = max_models
        self.max_memory_bytes = max_memory_bytes
        self.on_evict = on_evict
        self._entries: OrderedDict[Any, ModelEntry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Any) -> bool:
        return key in self._entries

    def entries(self) -> list[ModelEntry]:
        return list(self._entries.values())

    def get(self, key: Any) -> ModelEntry | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, entry: ModelEntry) -> list[ModelEntry]:
        """Add ``entry`` (most recently used); returns the entries evicted to make room."""
        self._entries[entry.key] = entry
        self._entries.move_to_end(entry.key)
        evicted = []
        while len(self._entries) > 1 and self._over():
            _, oldest = self._entries.popitem(last=False)
            evicted.append(oldest)
            if self.on_evict is not None:
                self.on_evict(oldest)
        return evicted

    def _over(self) -> bool:
        if len(self._entries) > self.max_models:
            return True
        if self.max_memory_bytes is None:
            return False
        return sum(e.size_bytes for e in self._entries.values()) > self.max_memory_bytes

    def remove(self, key: Any) -> ModelEntry | None:
        return self._entries.pop(key, None)
