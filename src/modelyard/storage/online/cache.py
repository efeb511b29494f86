"""The prediction cache's Redis backend: opaque byte keys and values with a time to live.

A batch is one round trip each way (``MGET``; pipelined ``SET ... PX``). Keys are hashed
(BLAKE2b, 128 bits) under ``<namespace>:p:`` so any input row makes a short key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from modelyard.errors import StoreUnavailableError
from modelyard.storage.online.redis_store import redis_client

__all__ = ["RedisKeyValueCache"]


class RedisKeyValueCache:
    def __init__(
        self,
        url: str,
        *,
        namespace: str = "modelyard:cache",
        ttl_s: float | None = None,
        socket_timeout: float = 1.0,
    ) -> None:
        self.url = url
        self.prefix = f"{namespace}:p:".encode()
        self.ttl_ms = int(ttl_s * 1000) if ttl_s else None
        self.client: Any = redis_client(url, socket_timeout, socket_timeout)

    def _key(self, key: bytes) -> bytes:
        return self.prefix + hashlib.blake2b(key, digest_size=16).hexdigest().encode()

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        import redis

        if not keys:
            return []
        try:
            return list(self.client.mget([self._key(k) for k in keys]))
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc

    def set_many(self, items: Sequence[tuple[bytes, bytes]]) -> None:
        import redis

        if not items:
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            for key, value in items:
                pipe.set(self._key(key), value, px=self.ttl_ms)
            pipe.execute()
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: BaseException) -> StoreUnavailableError:
        from modelyard.storage.metadata import redact

        return StoreUnavailableError(
            f"Cannot reach the prediction cache at {redact(self.url)}: {exc}.",
            uri=redact(self.url),
        )

    def close(self) -> None:
        self.client.close()
