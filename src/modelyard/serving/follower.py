"""Following the registry: when a stage or alias a deployment serves moves, swap atomically.

Another process's promotion is visible only in the metadata store, so a thread reads each
followed model's aliases every ``poll_interval_s`` (one ``get_model`` per model name: a few
indexed queries); a promotion made in this process through the server's registry client
wakes it at once (a promotion hook). On a move:

1. the new version is loaded in a loader thread (when the old one was in memory or the
   deployment preloads), so no request waits for a cold model;
2. on the event loop, the variant's version is switched in one assignment: a request picks its
   model version once, before it is queued, so every request is answered by exactly one
   version, old or new, and every request that starts after the switch gets the new one;
3. the old version's queue is scored and it is released;
4. ``deployment.swapped`` (from, to) is recorded with a lineage edge.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING

from modelyard.errors import ModelyardError

if TYPE_CHECKING:
    from modelyard.serving.server import Deployment, ModelServer, Variant

__all__ = ["RegistryFollower"]

log = logging.getLogger("modelyard.serving")


class RegistryFollower:
    def __init__(self, server: ModelServer, *, interval_s: float = 2.0) -> None:
        self.server = server
        self.interval_s = interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="modelyard-follow", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """Check now (a promotion hook calls this)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.check()
            except Exception:  # the store may be down for a while: keep serving, retry
                log.warning(
                    "could not read the registry; serving the current versions", exc_info=True
                )

    def check(self) -> int:
        """Compare every followed alias with the registry; swap the ones that moved."""
        followed = [
            (dep, v)
            for dep in self.server.deployments.values()
            for v in dep.all_variants()
            if v.follows
        ]
        models = {}
        for name in {v.model for _, v in followed}:
            models[name] = self.server.registry.get_model(name)
        swaps = 0
        for dep, variant in followed:
            model = models[variant.model]
            alias = (variant.ref.alias or "latest").lower()
            target = model.latest_version if alias == "latest" else _alias(model.aliases, alias)
            if target is not None and target != variant.version:
                swaps += self._swap(dep, variant, target)
        return swaps

    def _swap(self, dep: Deployment, variant: Variant, new: int) -> int:
        loop = self.server.loop
        assert loop is not None
        old = variant.version
        try:
            asyncio.run_coroutine_threadsafe(self._switch(dep, variant, new), loop).result(600)
        except ModelyardError as exc:
            log.error(
                "deployment %s variant %s: cannot load %s version %s (%s); still serving %s",
                dep.name, variant.name, variant.model, new, exc.message, old,
            )  # fmt: skip
            return 0
        self.server.history.swapped(dep.name, variant.name, variant.model, old, new, variant.uri)
        log.info(
            "deployment %s variant %s: %s version %s -> %s",
            dep.name, variant.name, variant.model, old, new,
        )  # fmt: skip
        return 1

    async def _switch(self, dep: Deployment, variant: Variant, new: int) -> None:
        loader = self.server.loader
        old_entry = loader.loaded(dep, variant)
        if old_entry is not None or dep.spec.preload:
            await loader.entry(dep, variant, version=new)
        variant.version = new  # the switch: one assignment on the event loop
        self.server.metrics.swaps.labels(dep.name, variant.name).inc()
        if old_entry is not None and not _still_used(dep, old_entry.name, old_entry.version):
            self.server.pool.remove(old_entry.key)
            self.server.metrics.untrack(old_entry.metric_labels)
            self.server.metrics.models_loaded.set(len(self.server.pool))
            old_entry.close()


def _alias(aliases: object, alias: str) -> int | None:
    for name, version in dict(aliases).items():  # type: ignore[call-overload]
        if str(name).lower() == alias:
            return int(version)
    return None


def _still_used(dep: Deployment, model: str, version: int) -> bool:
    return any(v.model == model and v.version == version for v in dep.all_variants())
