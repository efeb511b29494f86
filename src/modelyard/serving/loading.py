"""Loading model versions into the pool: once per version however many requests ask, in a
thread (the event loop keeps answering), verified against the registry's hashes.

An entry belongs to one deployment (its batching, breaker and features are the deployment's);
its key is (deployment, model, version).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any

from modelyard.errors import ConfigError
from modelyard.flavors import LoadedModel
from modelyard.serving.models import FeaturePlan, FeatureSource, ModelEntry
from modelyard.serving.protection import CircuitBreaker

if TYPE_CHECKING:
    from modelyard.serving.server import Deployment, ModelServer, Variant

__all__ = ["EntryLoader", "freeze_heap"]

log = logging.getLogger("modelyard.serving")
Key = tuple[str, str, int]


def freeze_heap(*, collect: bool = False) -> None:
    """Move every object alive now (libraries, models) out of the garbage collector's sight.

    A full collection walks every tracked object: with scikit-learn, pandas and pyarrow loaded
    that is some 200,000 objects and 50-200 ms during which no request is answered (it showed
    as the p99 of a loaded server). What is frozen is never collected, so freeze after loading,
    when what exists is what stays (``gc.freeze``, as in CPython's own advice for servers)."""
    import gc

    if collect:
        gc.collect()
    gc.freeze()


def _limit_threads(n: int) -> None:
    """Run in each scoring thread: the model library's thread pools use ``n`` threads (on a
    busy server, batches in parallel beat threads fighting over the same cores)."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n)
    except Exception:  # pragma: no cover - threadpoolctl comes with scikit-learn
        log.debug("threadpoolctl unavailable; model libraries choose their threads")


class EntryLoader:
    def __init__(self, server: ModelServer, *, scoring_threads: int = 1) -> None:
        self.server = server
        self.thread_init = partial(_limit_threads, scoring_threads)
        self._tasks: dict[Key, asyncio.Task[ModelEntry]] = {}
        self._executor = ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="modelyard-load", initializer=self.thread_init
        )
        self._features: Any = None

    @staticmethod
    def key(dep: Deployment, model: str, version: int) -> Key:
        return (dep.name, model, version)

    def loaded(self, dep: Deployment, variant: Variant) -> ModelEntry | None:
        return self.server.pool.get((dep.name, variant.model, variant.version))

    async def entry(
        self, dep: Deployment, variant: Variant, version: int | None = None
    ) -> ModelEntry:
        """The loaded entry of ``variant`` (at ``version``, default its current one)."""
        key = self.key(dep, variant.model, variant.version if version is None else version)
        found = self.server.pool.get(key)
        if found is not None:
            return found
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._load(dep, key, variant.name))
            self._tasks[key] = task
        return await asyncio.shield(task)

    def prefetch(self, dep: Deployment, variant: Variant) -> None:
        """Start loading in the background (a failure is logged, not raised)."""
        key = self.key(dep, variant.model, variant.version)
        if key not in self._tasks and self.server.pool.get(key) is None:
            task = asyncio.get_running_loop().create_task(self._load(dep, key, variant.name))
            self._tasks[key] = task
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _load(self, dep: Deployment, key: Key, variant: str) -> ModelEntry:
        loop = asyncio.get_running_loop()
        try:
            entry = await loop.run_in_executor(
                self._executor, self._build, dep, key[1], key[2], variant
            )
        finally:
            self._tasks.pop(key, None)
        server = self.server
        server.pool.put(entry)
        metrics = server.metrics
        metrics.model_loads.labels(entry.name, str(entry.version)).inc()
        metrics.models_loaded.set(len(server.pool))
        metrics.track(
            entry.metric_labels,
            lambda: float(entry.batcher.depth),
            lambda: float(entry.breaker.is_open),
        )
        log.info("loaded %s version %s for deployment %s", entry.name, entry.version, dep.name)
        if server.ready:  # at start the server freezes the heap once everything is loaded
            freeze_heap()
        return entry

    def _build(self, dep: Deployment, model: str, version: int, variant: str) -> ModelEntry:
        """In a loader thread: download, verify, load, warm up."""
        loaded = self.server.registry.load_model(f"models:/{model}/{version}")
        spec = dep.spec
        entry = ModelEntry(
            name=model,
            version=version,
            model=loaded,
            features=self._feature_plan(dep, loaded),
            batching=spec.batching,
            breaker=CircuitBreaker(
                failures=spec.circuit_breaker.failures, reset_s=spec.circuit_breaker.reset_s
            ),
            thread_init=self.thread_init,
            metrics=self.server.metrics,
            deployment=dep.name,
            variant=variant,
        )
        entry.warm_up()
        return entry

    # -- online features ------------------------------------------------------------------------
    def feature_store(self) -> Any:
        if self._features is None:
            from modelyard.features import FeatureStore

            self._features = FeatureStore(self.server.workspace)
        return self._features

    def _feature_plan(self, dep: Deployment, model: LoadedModel) -> FeaturePlan | None:
        source = dep.features or _declared_features(model)
        if source is None:
            return None
        store = self.feature_store()
        names = store.get_online_features(
            source.features, [], full_feature_names=source.full_names
        ).feature_names
        inputs = model.signature.input_names if model.signature else []
        positions = [inputs.index(n) if n in inputs else -1 for n in names]
        if inputs and not any(p >= 0 for p in positions):
            raise ConfigError(
                f"Deployment {dep.name!r}: the model's inputs ({', '.join(inputs)}) include none "
                f"of the features of {source.describe()} ({', '.join(names)}); check "
                "feature_service in the deployments file.",
                deployment=dep.name,
            )
        as_of = -1
        if dep.spec.features_as_of is not None:
            if dep.spec.features_as_of not in inputs:
                raise ConfigError(
                    f"Deployment {dep.name!r}: features_as_of names "
                    f"{dep.spec.features_as_of!r}, which is not an input of the model "
                    f"({', '.join(inputs)}).",
                    deployment=dep.name,
                    field="features_as_of",
                )
            as_of = inputs.index(dep.spec.features_as_of)
        return FeaturePlan(source, store, names, positions, join_keys(store, source), as_of)

    def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._executor.shutdown(wait=False)


def _declared_features(model: LoadedModel) -> FeatureSource | None:
    """What a model trained on the feature store says it needs (MODEL.yaml metadata.features)."""
    meta = model.manifest.metadata.get("features")
    if not isinstance(meta, dict):
        return None
    full = bool(meta.get("full_feature_names", False))
    if meta.get("service"):
        return FeatureSource(str(meta["service"]), full)
    refs = meta.get("references")
    return FeatureSource(tuple(str(r) for r in refs), full) if refs else None


def join_keys(store: Any, source: FeatureSource) -> tuple[str, ...]:
    """The entity join keys the features of ``source`` are looked up by, in order."""
    refs = (
        store.get_feature_service(source.features).features
        if isinstance(source.features, str)
        else list(source.features)
    )
    keys: list[str] = []
    for view_name in dict.fromkeys(str(r).partition(":")[0] for r in refs):
        for entity in store.get_feature_view(view_name).entities:
            for key in store.get_entity(entity).join_keys:
                if key not in keys:
                    keys.append(key)
    return tuple(keys)
