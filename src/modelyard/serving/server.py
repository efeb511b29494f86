"""The model server: deployments, traffic, protection, batching, cache and logs, behind two calls
the HTTP adapter makes (:meth:`ModelServer.predict` and :meth:`ModelServer.infer`).

A request, on the event loop: find the deployment -> the client's token bucket -> parse (orjson)
-> pick the variant (weighted, sticky by key) -> its model version (loaded lazily, LRU) ->
check the rows against the signature (plain Python) -> the circuit breaker -> the batcher's
bounded queue -> wait for the batch (with a timeout) -> answer; then, without waiting, the
shadow model and the prediction log. Every refusal is an answer with its status (404, 413, 422,
429 + Retry-After, 503 + Retry-After, 504), never an exception out of the server.

Deployments follow the registry: see :mod:`modelyard.serving.follower`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from modelyard.entities.predictions import STATUS_ERROR, STATUS_OK, STATUS_REJECTED
from modelyard.errors import (
    ModelyardError,
    NotFoundError,
    OverloadedError,
    RateLimitedError,
    RequestTimeoutError,
    SpecError,
    suggest,
)
from modelyard.registry import ModelRef, RegistryClient, parse_model_uri
from modelyard.serving.accesslog import AccessLog
from modelyard.serving.batching import WorkItem
from modelyard.serving.cache import PredictionCache, open_cache
from modelyard.serving.follower import RegistryFollower
from modelyard.serving.history import DeploymentHistory
from modelyard.serving.loading import EntryLoader, freeze_heap
from modelyard.serving.metrics import ServingMetrics
from modelyard.serving.models import FeatureSource, ModelEntry, ModelFailedError, ModelPool, Scored
from modelyard.serving.predlog import LogChunk, PredictionLogger
from modelyard.serving.protection import LoopLag, RateLimiter
from modelyard.serving.protocol import parse_json, v1_rows, v2_columns, v2_outputs
from modelyard.serving.spec import SHADOW_VARIANT, DeploymentSpec, DeploymentsSpec
from modelyard.serving.traffic import Router
from modelyard.storage import Workspace, default_workspace

__all__ = ["Deployment", "HeaderLookup", "ModelServer", "Reply", "Variant"]

log = logging.getLogger("modelyard.serving")
_JSON = {"content-type": "application/json"}


class HeaderLookup(Protocol):
    """Request headers by lower-case name (a dict, Starlette's Headers, or the ASGI list)."""

    def get(self, name: str, default: str | None = None, /) -> str | None: ...


@dataclass(slots=True)
class Reply:
    """What the HTTP adapter sends back."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Variant:
    name: str
    uri: str
    ref: ModelRef
    weight: float
    version: int = 0
    """the version answering now (moved by the registry follower)"""

    @property
    def model(self) -> str:
        return self.ref.name

    @property
    def follows(self) -> bool:
        """True when the URI names an alias or stage (it may move)."""
        return self.ref.version is None


@dataclass
class Deployment:
    name: str
    spec: DeploymentSpec
    variants: dict[str, Variant]
    router: Router
    shadow: Variant | None
    features: FeatureSource | None
    cache: PredictionCache | None
    limiter: RateLimiter | None
    timeout_s: float

    @property
    def primary(self) -> Variant:
        return max(self.variants.values(), key=lambda v: v.weight)

    def all_variants(self) -> list[Variant]:
        return [*self.variants.values(), *([self.shadow] if self.shadow else [])]


class ModelServer:
    """Serves the deployments of ``spec`` from ``workspace``'s registry (see docs/serving.md).

    ``record_history=False`` for extra worker processes of one server (the first one records).
    """

    def __init__(
        self,
        spec: DeploymentsSpec,
        *,
        workspace: Workspace | None = None,
        record_history: bool = True,
        access_log: AccessLog | None = None,
    ) -> None:
        self.spec = spec
        self.workspace = workspace or default_workspace()
        self.registry = RegistryClient(self.workspace)
        self.metrics = ServingMetrics()
        self.history = DeploymentHistory(self.workspace, enabled=record_history)
        opts = spec.server
        self.pool = ModelPool(
            max_models=opts.models.max_models,
            max_memory_bytes=opts.models.max_memory_mb * 2**20
            if opts.models.max_memory_mb
            else None,
            on_evict=self._evicted,
        )
        self.loader = EntryLoader(self, scoring_threads=opts.scoring_threads)
        log_opts = opts.prediction_log
        self.prediction_log: PredictionLogger | None = None
        if log_opts.enabled:
            self.prediction_log = PredictionLogger(
                self.workspace.logs,
                flush_interval_s=log_opts.flush_interval_s,
                flush_rows=log_opts.flush_rows,
                max_buffer_rows=log_opts.max_buffer_rows,
                on_written=self.metrics.log_rows.labels("written").inc,
                on_dropped=self.metrics.log_rows.labels("dropped").inc,
            )
            self.metrics.log_buffer.set_function(lambda: float(self._log_buffered()))
        self.access_log = access_log
        self.follower = RegistryFollower(self, interval_s=opts.poll_interval_s)
        self.deployments: dict[str, Deployment] = {}
        self.ready = False
        self.lag = LoopLag(limit_s=opts.max_loop_lag_ms / 1000.0)
        self.metrics.loop_lag.set_function(lambda: self.lag.lag_s)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ids = itertools.count(1)
        self._id_prefix = secrets.token_hex(5) + "-"
        self._pending: set[asyncio.Future[Any]] = set()
        self._io = ThreadPoolExecutor(max_workers=2, thread_name_prefix="modelyard-serving-io")
        self.registry.add_hook(lambda _event: self.follower.wake())

    def flush_prediction_log(self) -> int:
        """Write the buffered prediction-log rows now (feedback looks its ids up in the log)."""
        return self.prediction_log.flush() if self.prediction_log is not None else 0

    def _log_buffered(self) -> int:
        return self.prediction_log.buffered if self.prediction_log else 0

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Resolve every variant, record the deployments, preload, follow the registry."""
        self.loop = asyncio.get_running_loop()
        deployments = await self.loop.run_in_executor(self._io, self._build_deployments)
        self.deployments = deployments
        if self.prediction_log is not None:
            self.prediction_log.start()
        for dep in deployments.values():
            for variant in dep.all_variants():
                await self.loop.run_in_executor(
                    self._io,
                    self.history.started,
                    dep.name,
                    variant.name,
                    variant.model,
                    variant.version,
                    variant.uri,
                )
        preload = [
            self.loader.entry(dep, v) for dep in deployments.values() if dep.spec.preload
            for v in dep.all_variants()
        ]  # fmt: skip
        if preload:
            await asyncio.gather(*preload)
        freeze_heap(collect=True)
        self.follower.start()
        self.lag.start()
        self.ready = True
        log.info("serving %s", ", ".join(deployments))

    def _build_deployments(self) -> dict[str, Deployment]:
        out = {}
        for name, spec in self.spec.deployments.items():
            variants = {}
            for v in spec.variant_list():
                variants[v.name] = self._variant(v.name, v.model, v.weight)
            shadow = None
            if spec.shadow is not None:
                shadow = self._variant(SHADOW_VARIANT, spec.shadow.model, 0.0)
            if spec.feature_service:  # fail at start, not on the first request
                self.loader.feature_store().get_feature_service(spec.feature_service)
            limiter = None
            if spec.rate_limit is not None:
                limiter = RateLimiter(
                    rate=spec.rate_limit.requests_per_s, burst=spec.rate_limit.burst
                )
            out[name] = Deployment(
                name=name,
                spec=spec,
                variants=variants,
                router=Router(list(variants), [v.weight for v in variants.values()], salt=name),
                shadow=shadow,
                features=FeatureSource(spec.feature_service) if spec.feature_service else None,
                cache=open_cache(spec.cache, self.workspace, f"deployments.{name}")
                if spec.cache
                else None,
                limiter=limiter,
                timeout_s=spec.timeout_ms / 1000.0,
            )
        return out

    def _variant(self, name: str, uri: str, weight: float) -> Variant:
        ref = parse_model_uri(uri)
        assert isinstance(ref, ModelRef)  # the spec checked it
        version = self.registry.resolve(uri).version
        return Variant(name, uri, ref, weight, version)

    async def stop(self) -> None:
        """Stop following, score what is queued, flush the prediction log, record the stop."""
        self.ready = False
        self.lag.stop()
        self.follower.stop()
        for entry in self.pool.entries():
            entry.close()
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=5)
        loop = asyncio.get_running_loop()
        if self.prediction_log is not None:
            await loop.run_in_executor(self._io, self.prediction_log.close)
        for dep in self.deployments.values():
            versions = {v.name: v.version for v in dep.all_variants()}
            await loop.run_in_executor(self._io, self.history.stopped, dep.name, versions)
            if dep.cache is not None:
                dep.cache.close()
        self.loader.close()
        self._io.shutdown(wait=False)

    def _evicted(self, entry: ModelEntry) -> None:
        self.metrics.evictions.labels(entry.name, str(entry.version)).inc()
        self.metrics.models_loaded.set(len(self.pool))
        self.metrics.untrack(entry.metric_labels)
        entry.close()

    # -- v1 -----------------------------------------------------------------------------------
    async def predict(self, name: str, body: bytes, *, client: str, headers: HeaderLookup) -> Reply:
        """``POST /v1/models/{name}/predict``."""
        call = _Call(self, name, time.perf_counter())
        try:
            payload = self._admit(call, body, client, headers)
            where, data = v1_rows(payload)
            variant = call.pick(headers, payload.get("routing_key"))
            entry = await self._entry(call, variant)
            rows, keys = (
                entry.schema.from_records(data, where)
                if where == "instances"
                else entry.schema.from_columns(data, where)
            )
            call.rows = rows
            scored = await self._score(call, entry, rows, keys)
        except ModelyardError as exc:
            return call.failed(exc)
        ids = self._new_ids(len(rows))
        out: dict[str, Any] = {
            "model": entry.name,
            "version": entry.version,
            "variant": variant.name,
            "predictions": scored.predictions,
            "prediction_ids": ids,
        }
        if scored.proba is not None:
            out["probabilities"] = scored.proba
            out["classes"] = entry.classes
        self._shadow(call, data, where, ids)
        return call.done(scored, ids, orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY))

    # -- v2 (Open Inference Protocol) ------------------------------------------------------------
    async def infer(
        self,
        name: str,
        body: bytes,
        *,
        client: str,
        headers: HeaderLookup,
        version: str | None = None,
    ) -> Reply:
        """``POST /v2/models/{name}/infer`` (``/versions/{version}/infer``: the variant serving
        that version answers; 404 when none does)."""
        call = _Call(self, name, time.perf_counter(), v2=True)
        try:
            payload = self._admit(call, body, client, headers)
            if version is not None:
                variant = call.pin(self._serving(call.deployment, version))
            else:
                params = payload.get("parameters") or {}
                variant = call.pick(
                    headers, params.get("routing_key") if isinstance(params, dict) else None
                )
            entry = await self._entry(call, variant)
            if version is not None and str(entry.version) != version:  # moved meanwhile
                raise NotFoundError(
                    f"Deployment {name!r} stopped serving version {version} (its variant "
                    f"{variant.name!r} moved to version {entry.version}).",
                    deployment=name,
                    version=version,
                )
            columns = v2_columns(payload, entry.schema.request_types)
            rows, keys = entry.schema.from_columns(columns, "inputs")
            call.rows = rows
            scored = await self._score(call, entry, rows, keys)
        except ModelyardError as exc:
            return call.failed(exc)
        ids = self._new_ids(len(rows))
        out = {
            "model_name": call.deployment.name if call.deployment else name,
            "model_version": str(entry.version),
            "outputs": v2_outputs(scored.predictions, scored.proba),
            "parameters": {"variant": variant.name, "model": entry.name, "prediction_ids": ids},
        }
        if "id" in payload:
            out["id"] = payload["id"]
        records = [dict(zip(columns, values)) for values in zip(*columns.values())]
        self._shadow(call, records, "instances", ids)
        return call.done(scored, ids, orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY))

    async def model_metadata(self, name: str, version: str | None = None) -> dict[str, Any]:
        """``GET /v2/models/{name}`` (or ``/versions/{version}``: the variant serving it):
        versions, platform, input and output tensors."""
        from modelyard.serving.protocol import V2_TYPES

        dep = self._deployment(name)
        variant = dep.primary if version is None else self._serving(dep, version)
        entry = await self.loader.entry(dep, variant)
        sig = entry.model.signature
        inputs = [
            {"name": c.name, "datatype": V2_TYPES.get(c.type, "BYTES"), "shape": [-1]}
            for c in (sig.inputs if sig else ())
            if c.name in entry.schema.request_names
        ]
        inputs += [{"name": k, "datatype": "BYTES", "shape": [-1]} for k in entry.schema.keys]
        outputs: list[dict[str, Any]] = [{"name": "predict", "datatype": "FP64", "shape": [-1]}]
        if entry.classes is not None:
            outputs.append(
                {"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(entry.classes)]}
            )
        versions = {str(v.version) for v in dep.variants.values()} if version is None else {version}
        return {
            "name": name,
            "versions": sorted(versions),
            "platform": f"modelyard-{entry.model.flavor}",
            "inputs": inputs,
            "outputs": outputs,
            "parameters": {
                "variants": {v.name: {"model": v.model, "version": v.version, "weight": v.weight}
                             for v in dep.variants.values()},
            },
        }  # fmt: skip

    async def model_ready(self, name: str, version: str | None = None) -> bool:
        """Load every variant of the deployment (or the one serving ``version``) if it is not
        yet loaded, and say whether it worked."""
        dep = self._deployment(name)
        variants = dep.variants.values() if version is None else [self._serving(dep, version)]
        try:
            for variant in variants:
                await self.loader.entry(dep, variant)
        except ModelyardError:
            log.exception("deployment %s is not ready", name)
            return False
        return True

    def describe(self) -> list[dict[str, Any]]:
        """Every deployment, its variants and versions, and which are in memory."""
        loaded = {(e.name, e.version) for e in self.pool.entries()}
        return [
            {
                "name": dep.name,
                "variants": [
                    {
                        "name": v.name,
                        "uri": v.uri,
                        "model": v.model,
                        "version": v.version,
                        "weight": v.weight,
                        "loaded": (v.model, v.version) in loaded,
                    }
                    for v in dep.all_variants()
                ],
                "feature_service": dep.spec.feature_service,
                "cache": dep.cache.backend if dep.cache else None,
            }
            for dep in self.deployments.values()
        ]

    # -- the steps of a request ---------------------------------------------------------------------
    def _deployment(self, name: str) -> Deployment:
        dep = self.deployments.get(name)
        if dep is None:
            known = list(self.deployments)
            raise NotFoundError(
                f"No deployment named {name!r}{suggest(name, known)}. This server answers for: "
                f"{', '.join(known) or 'nothing'}.",
                deployment=name,
            )
        return dep

    def _serving(self, dep: Deployment | None, version: str) -> Variant:
        """The variant of ``dep`` serving model version ``version`` now (the heaviest, when
        variants of two models share the number)."""
        assert dep is not None
        for variant in sorted(dep.variants.values(), key=lambda v: -v.weight):
            if str(variant.version) == version:
                return variant
        served = ", ".join(f"{v.version} ({v.name}: {v.model})" for v in dep.variants.values())
        raise NotFoundError(
            f"Deployment {dep.name!r} does not serve version {version!r} now; it serves "
            f"version {served}. Use /v2/models/{dep.name}/infer for the version it routes to.",
            deployment=dep.name,
            version=version,
        )

    def _admit(
        self, call: _Call, body: bytes, client: str, headers: HeaderLookup
    ) -> dict[str, Any]:
        dep = call.deployment = self._deployment(call.name)
        if not self.lag.admit():
            raise OverloadedError(
                f"The server is overloaded (requests wait {self.lag.lag_s * 1000:.0f} ms before "
                "being read); retry shortly.",
                retry_after_s=1,
                reason="busy",
            )
        if dep.limiter is not None:
            header = dep.spec.rate_limit.client_header if dep.spec.rate_limit else None
            # the IP address unless a trusted proxy's header is configured: a header the
            # client sends itself would let it pick a fresh bucket for every request
            wait = dep.limiter.acquire((header and headers.get(header.lower())) or client)
            if wait:
                raise RateLimitedError(
                    f"Too many requests from this client for {dep.name!r} (limit "
                    f"{dep.limiter.rate:g}/s, burst {dep.limiter.burst:g}); retry in {wait:.2f} s.",
                    retry_after_s=wait,
                )
        return parse_json(body)

    async def _entry(self, call: _Call, variant: Variant) -> ModelEntry:
        assert call.deployment is not None
        entry = self.loader.loaded(call.deployment, variant)
        if entry is None:
            entry = await self.loader.entry(call.deployment, variant)
        call.entry = entry
        return entry

    async def _score(
        self, call: _Call, entry: ModelEntry, rows: list[list[Any]], keys: list[Any]
    ) -> Scored:
        dep = call.deployment
        assert dep is not None and self.loop is not None
        wait = entry.breaker.allow()
        if wait:
            raise OverloadedError(
                f"Model {entry.name} version {entry.version} is failing; its circuit breaker is "
                f"open. Retry in {wait:.1f} s.",
                retry_after_s=wait,
                reason="circuit_open",
            )
        future: asyncio.Future[Scored] = self.loop.create_future()
        entry.batcher.submit(WorkItem(rows, keys, future, dep.cache, call.start))
        timer = self.loop.call_later(dep.timeout_s, _expire, future, dep.timeout_s)
        try:
            return await future
        finally:
            timer.cancel()

    def _shadow(self, call: _Call, data: Any, where: str, ids: list[str]) -> None:
        """Score the request with the shadow model too; its answer is logged, not returned."""
        dep = call.deployment
        if dep is None or dep.shadow is None or self.loop is None:
            return
        if not dep.router.sample(dep.spec.shadow.fraction if dep.spec.shadow else 1.0, call.key):
            return
        shadow = dep.shadow
        entry = self.loader.loaded(dep, shadow)
        counter = self.metrics.shadow
        if entry is None:  # load it in the background; this request goes without
            self.loader.prefetch(dep, shadow)
            counter.labels(dep.name, shadow.model, str(shadow.version), "not_loaded").inc()
            return
        try:
            rows, keys = (
                entry.schema.from_records(data, where)
                if where == "instances"
                else entry.schema.from_columns(data, where)
            )
            if entry.breaker.allow():
                raise OverloadedError("the shadow model's circuit breaker is open")
            future: asyncio.Future[Scored] = self.loop.create_future()
            entry.batcher.submit(WorkItem(rows, keys, future, None, time.perf_counter()))
        except ModelyardError as exc:
            counter.labels(dep.name, entry.name, str(entry.version), "refused").inc()
            log.debug("shadow request refused: %s", exc.message)
            return
        self._pending.add(future)
        future.add_done_callback(lambda f: self._shadow_done(f, dep, entry, ids, rows))

    def _shadow_done(
        self,
        future: asyncio.Future[Scored],
        dep: Deployment,
        entry: ModelEntry,
        ids: list[str],
        rows: list[list[Any]],
    ) -> None:
        self._pending.discard(future)
        error = future.exception()
        outcome = "ok" if error is None else "error"
        self.metrics.shadow.labels(dep.name, entry.name, str(entry.version), outcome).inc()
        scored = future.result() if error is None else None
        self.log_rows(
            entry,
            SHADOW_VARIANT,
            ids,
            scored.rows if scored else rows,
            scored,
            0.0,
            type(error).__name__ if error else None,
        )

    def log_rows(
        self,
        entry: ModelEntry,
        variant: str,
        ids: list[str],
        rows: list[list[Any]] | None,
        scored: Scored | None,
        latency_ms: float,
        error: str | None,
        *,
        status: str | None = None,
    ) -> None:
        """Log one request's rows; ``status`` defaults to ok (no ``error``) or error."""
        if self.prediction_log is None:
            return
        names = entry.schema.names or (list(rows[0]) if rows and isinstance(rows[0], dict) else [])
        if rows and isinstance(rows[0], dict):  # a model without a signature: rows are records
            rows = [[r.get(n) for n in names] for r in rows]  # type: ignore[attr-defined]
        self.prediction_log.append(
            LogChunk(
                ts_ms=int(time.time() * 1000),
                model=entry.name,
                version=entry.version,
                variant=variant,
                ids=ids,
                names=names,
                types=entry.input_types,
                rows=rows,
                predictions=scored.predictions if scored else None,
                proba=scored.proba if scored else None,
                latency_ms=latency_ms,
                status=status or (STATUS_OK if error is None else STATUS_ERROR),
                error=error,
            )
        )

    def _new_ids(self, n: int) -> list[str]:
        prefix, counter = self._id_prefix, self._ids
        if n == 1:
            return [prefix + str(next(counter))]
        return [prefix + str(next(counter)) for _ in range(n)]


def _expire(future: asyncio.Future[Any], timeout_s: float) -> None:
    if not future.done():
        future.set_exception(
            RequestTimeoutError(
                f"The request was not answered within its timeout ({timeout_s * 1000:g} ms); "
                "the server is busy or the model is slow.",
                timeout_ms=timeout_s * 1000,
            )
        )


_KINDS = {
    RateLimitedError: "rate_limited",
    RequestTimeoutError: "timeout",
    SpecError: "invalid",
    NotFoundError: "not_found",
    ModelFailedError: "model_error",
}


class _Call:
    """The bookkeeping of one request: its answer, metrics, access-log fields and log rows."""

    __slots__ = ("deployment", "entry", "key", "name", "rows", "server", "start", "v2", "variant")

    def __init__(self, server: ModelServer, name: str, start: float, v2: bool = False) -> None:
        self.server = server
        self.name = name
        self.start = start
        self.v2 = v2
        self.deployment: Deployment | None = None
        self.variant: Variant | None = None
        self.entry: ModelEntry | None = None
        self.key: str | None = None
        self.rows: list[list[Any]] | None = None

    def pick(self, headers: HeaderLookup, body_key: Any) -> Variant:
        dep = self.deployment
        assert dep is not None
        key = headers.get(dep.spec.routing_key_header.lower()) or body_key
        self.key = str(key) if key is not None else None
        self.variant = dep.variants[dep.router.pick(self.key)]
        return self.variant

    def pin(self, variant: Variant) -> Variant:
        self.variant = variant
        return variant

    def _labels(self) -> tuple[str, str, str, str]:
        """deployment, model, version and variant, as far as the request got ("" before)."""
        entry, variant = self.entry, self.variant
        return (
            self.deployment.name if self.deployment else self.name,
            entry.name if entry else "",
            str(entry.version) if entry else "",
            variant.name if variant else "",
        )

    def _headers(self) -> dict[str, str]:
        headers = dict(_JSON)
        if self.variant is not None:
            headers["x-modelyard-variant"] = self.variant.name
        if self.entry is not None:
            headers["x-modelyard-model"] = self.entry.name
            headers["x-modelyard-model-version"] = str(self.entry.version)
        return headers

    def done(self, scored: Scored, ids: list[str], body: bytes) -> Reply:
        server, entry, variant, dep = self.server, self.entry, self.variant, self.deployment
        assert entry is not None and variant is not None and dep is not None
        seconds = time.perf_counter() - self.start
        metrics = server.metrics
        metrics.request(dep.name, entry.name, entry.version, variant.name).observe(
            seconds, len(ids)
        )
        server.log_rows(entry, variant.name, ids, scored.rows, scored, seconds * 1000, None)
        headers = self._headers()
        if scored.cache_hits:
            headers["x-modelyard-cache"] = "hit" if scored.cache_hits == len(ids) else "partial"
        return Reply(200, body, headers)

    def failed(self, exc: ModelyardError) -> Reply:
        server = self.server
        status = exc.http_status
        kind = _KINDS.get(type(exc)) or (
            str(exc.details.get("reason", "overloaded")) if isinstance(exc, OverloadedError) else
            "too_large" if status == 413 else "error"
        )  # fmt: skip
        server.metrics.failure(self._labels(), status, kind)
        entry, variant = self.entry, self.variant
        if entry is not None and variant is not None:
            n = len(self.rows) if self.rows else 1
            latency_ms = (time.perf_counter() - self.start) * 1000
            ids = server._new_ids(n)
            # a 4xx is the client's mistake (invalid rows, too large, rate limited): logged as
            # rejected, so monitoring's error_rate counts only the server's and model's failures
            server.log_rows(
                entry,
                variant.name,
                ids,
                self.rows,
                None,
                latency_ms,
                type(exc).__name__,
                status=STATUS_REJECTED if 400 <= status < 500 else STATUS_ERROR,
            )
        headers = self._headers()
        retry = exc.details.get("retry_after_s")
        if retry is not None:
            headers["retry-after"] = str(max(1, math.ceil(float(retry))))
        data = exc.to_dict()
        if self.v2:  # the protocol's error body: {"error": "<message>"}
            data = {**data, "error": exc.message, "error_type": type(exc).__name__}
        body = orjson.dumps(data, default=str)
        return Reply(status, body, headers)
