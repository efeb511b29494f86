"""The prediction cache: (model, version, canonical input row) -> (prediction, probabilities).

The version is part of every key, and a version's files never change (the registry checks
their sha256), so a cached answer is never served for another version. Two backends: an
in-process LRU (``memory``) and Redis (``redis``, shared by every worker and server). Lookups and
stores happen once per batch, in the scoring thread, after online features were fetched (the
key is the full model input, never just an entity id).
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from modelyard.errors import ConfigError
from modelyard.serving.spec import CacheSpec
from modelyard.storage import Workspace

__all__ = ["MemoryCache", "PredictionCache", "RedisCache", "open_cache"]

Answer = tuple[Any, list[float] | None]


def cache_key(model: str, version: int, row_key: bytes) -> bytes:
    return f"{model}\x00{version}\x00".encode() + row_key


class PredictionCache(ABC):
    backend: str

    @abstractmethod
    def get_many(self, keys: Sequence[bytes]) -> list[Answer | None]: ...

    @abstractmethod
    def set_many(self, items: Sequence[tuple[bytes, Answer]]) -> None: ...

    def close(self) -> None:  # noqa: B027 - optional
        pass


class MemoryCache(PredictionCache):
    """An LRU of at most ``max_entries`` rows; entries older than ``ttl_s`` are misses."""

    backend = "memory"

    def __init__(self, *, max_entries: int, ttl_s: float | None = None) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._data: OrderedDict[bytes, tuple[float, Answer]] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[bytes]) -> list[Answer | None]:
        now = time.monotonic()
        out: list[Answer | None] = []
        with self._lock:
            for key in keys:
                hit = self._data.get(key)
                if hit is None or (self.ttl_s is not None and now - hit[0] > self.ttl_s):
                    out.append(None)
                    continue
                self._data.move_to_end(key)
                out.append(hit[1])
        return out

    def set_many(self, items: Sequence[tuple[bytes, Answer]]) -> None:
        now = time.monotonic()
        with self._lock:
            for key, value in items:
                self._data[key] = (now, value)
                self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


class RedisCache(PredictionCache):
    """Rows in Redis (JSON values), shared by every process that points at the same server."""

    backend = "redis"

    def __init__(self, store: Any) -> None:
        self.store = store

    def get_many(self, keys: Sequence[bytes]) -> list[Answer | None]:
        import orjson

        out: list[Answer | None] = []
        for raw in self.store.get_many(keys):
            if raw is None:
                out.append(None)
            else:
                prediction, proba = orjson.loads(raw)
                out.append((prediction, proba))
        return out

    def set_many(self, items: Sequence[tuple[bytes, Answer]]) -> None:
        import orjson

        self.store.set_many(
            [(k, orjson.dumps(v, option=orjson.OPT_SERIALIZE_NUMPY)) for k, v in items]
        )

    def close(self) -> None:
        self.store.close()


def open_cache(spec: CacheSpec, workspace: Workspace, where: str) -> PredictionCache:
    if spec.backend == "memory":
        return MemoryCache(max_entries=spec.max_entries, ttl_s=spec.ttl_s)
    from modelyard.storage.online import RedisKeyValueCache, RedisOnlineOptions

    url = spec.url
    if url is None:
        online = workspace.settings.online_uri
        if not online.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(
                f"{where}.cache: the redis backend needs a url (redis://host:6379/0), or an "
                f"online store on Redis (MODELYARD_ONLINE_URI is {online}).",
                field=f"{where}.cache.url",
            )
        url = RedisOnlineOptions.from_uri(online).url
    return RedisCache(RedisKeyValueCache(url, namespace=spec.namespace, ttl_s=spec.ttl_s))
