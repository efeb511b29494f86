"""The scale-out online store: Redis, one string per (view, entity).

Key ``<namespace>:r:<view>:<entity key>`` holds ``[event_ms,{"feature":value,...}]`` (JSON). A
read of many entities is ONE ``MGET`` per view (several views: one pipelined round trip), and
the replies are parsed as one JSON document; no server-side script runs on the read path. A
write replaces a row only when it is not older than the stored one (a small Lua script, so the
check and the write are atomic). Stream processing state lives in
``<namespace>:s:<view>:<entity key>`` and is updated with ``WATCH`` / ``MULTI`` together with the
rows it produced.

(The first layout, one hash per entity read by a Lua script of ``HMGET`` s, spent most of a
100-entity read running the script: ``MGET`` is about 5x faster. Rows of that layout, under
``:f:``, are not read: materialize again after upgrading.)
"""

from __future__ import annotations

import json
import random
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.entities import OnlineRead, OnlineRow
from modelyard.errors import DependencyMissingError, StoreUnavailableError
from modelyard.storage.online.base import (
    OnlineStore,
    RowInput,
    StateUpdate,
    decode_document,
    field_picker,
)
from modelyard.storage.schemes import validate_options

__all__ = ["RedisOnlineOptions", "RedisOnlineStore", "redis_client"]

_REPLACE_IF_NEWER = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local ts = tonumber(string.match(cur, '^%[(%-?%d+),'))
  if ts and ts > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""
_CHUNK = 1000
_MAX_RETRIES = 50


class RedisOnlineOptions(BaseModel):
    """Options of the Redis online store (query parameters of its URI, removed before the URL
    goes to redis-py)."""

    model_config = ConfigDict(extra="forbid")

    url: str
    namespace: str = Field("modelyard", pattern=r"^[\w\-.:]{1,100}$")
    socket_timeout: float = Field(5.0, gt=0)
    socket_connect_timeout: float = Field(3.0, gt=0)

    @classmethod
    def from_uri(cls, uri: str) -> RedisOnlineOptions:
        parts = urllib.parse.urlsplit(uri)
        params = dict(urllib.parse.parse_qsl(parts.query))
        url = urllib.parse.urlunsplit(parts._replace(query=""))
        return validate_options(cls, uri, "online store", url=url, **params)


def redis_client(url: str, socket_timeout: float = 5.0, connect_timeout: float = 3.0) -> Any:
    """A redis-py client (bytes in, bytes out), or a clear error when redis-py is missing."""
    try:
        import redis
    except ImportError as exc:
        raise DependencyMissingError.for_extra("redis", "redis") from exc
    return redis.Redis.from_url(
        url, socket_timeout=socket_timeout, socket_connect_timeout=connect_timeout
    )


def _rows(reply: list[bytes | None], fields: Sequence[str]) -> list[OnlineRow | None]:
    """The MGET reply of one view, parsed as one JSON document."""
    document = decode_document(b"[" + b",".join(b"null" if v is None else v for v in reply) + b"]")
    pick = field_picker(fields)
    return [None if row is None else OnlineRow(int(row[0]), pick(row[1])) for row in document]


def _unreachable(uri: str, exc: BaseException) -> StoreUnavailableError:
    from modelyard.storage.metadata import redact

    uri = redact(uri)
    return StoreUnavailableError(
        f"Cannot reach Redis at {uri}: {exc}. Start it (e.g. `redis-server --daemonize yes`) or "
        "point MODELYARD_ONLINE_URI elsewhere.",
        uri=uri,
    )


class RedisOnlineStore(OnlineStore):
    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.options = RedisOnlineOptions.from_uri(uri)
        self.client = redis_client(
            self.options.url, self.options.socket_timeout, self.options.socket_connect_timeout
        )
        self._prefix = f"{self.options.namespace}:"
        self._replace = self.client.register_script(_REPLACE_IF_NEWER)

    def _key(self, view: str, key: str) -> str:
        return f"{self._prefix}r:{view}:{key}"

    def _state_key(self, view: str, key: str) -> str:
        return f"{self._prefix}s:{view}:{key}"

    # -- reads (the hot path) ---------------------------------------------------------------
    def read(self, reads: Sequence[OnlineRead]) -> list[list[OnlineRow | None]]:
        import redis

        keys = [[f"{self._prefix}r:{r.view}:{k}" for k in r.keys] for r in reads if r.keys]
        try:
            if len(keys) == 1:  # the common case: one command, no pipeline
                replies = [self.client.mget(keys[0])]
            else:
                pipe = self.client.pipeline(transaction=False)
                for view_keys in keys:
                    pipe.mget(view_keys)
                replies = pipe.execute() if keys else []
        except redis.ConnectionError as exc:
            raise _unreachable(self.options.url, exc) from exc
        found = iter(replies)
        return [_rows(next(found), r.fields) if r.keys else [] for r in reads]

    # -- writes -----------------------------------------------------------------------------
    def _queue_write(self, pipe: Any, view: str, rows: Iterable[RowInput]) -> int:
        n = 0
        for key, ts, values in rows:
            payload = json.dumps([int(ts), dict(values)], separators=(",", ":"))
            self._replace(keys=[self._key(view, key)], args=[int(ts), payload], client=pipe)
            n += 1
        return n

    def write(self, view: str, rows: Iterable[RowInput]) -> int:
        import redis

        total = 0
        batch: list[RowInput] = []
        try:
            for row in rows:
                batch.append(row)
                if len(batch) >= _CHUNK:
                    total += self._flush(view, batch)
                    batch = []
            total += self._flush(view, batch)
        except redis.ConnectionError as exc:
            raise _unreachable(self.options.url, exc) from exc
        return total

    def _flush(self, view: str, rows: list[RowInput]) -> int:
        if not rows:
            return 0
        pipe = self.client.pipeline(transaction=False)
        n = self._queue_write(pipe, view, rows)
        pipe.execute()
        return n

    def transact(self, view: str, keys: Sequence[str], update: StateUpdate) -> int:
        import redis

        state_keys = [self._state_key(view, k) for k in keys]
        for attempt in range(_MAX_RETRIES):
            if attempt:  # lost a race: back off with jitter, or the same writers collide again
                time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
            with self.client.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(*state_keys)
                    raw = pipe.mget(state_keys) if state_keys else []
                    states = {k: (None if v is None else v.decode()) for k, v in zip(keys, raw)}
                    rows, new_states = update(states)
                    pipe.multi()
                    n = self._queue_write(pipe, view, rows)
                    if new_states:
                        pipe.mset({self._state_key(view, k): s for k, s in new_states.items()})
                    pipe.execute()
                    return n
                except redis.WatchError:
                    continue  # another processor changed one of these entities: recompute
                except redis.ConnectionError as exc:
                    raise _unreachable(self.options.url, exc) from exc
        raise StoreUnavailableError(
            f"Gave up updating {len(keys)} entities of {view!r} after {_MAX_RETRIES} conflicts "
            "with other writers.",
            view=view,
        )

    def delete_view(self, view: str) -> int:
        removed = 0
        for pattern in (self._key(view, "*"), self._state_key(view, "*")):
            keys = list(self.client.scan_iter(match=pattern, count=1000))
            for i in range(0, len(keys), _CHUNK):
                n = self.client.delete(*keys[i : i + _CHUNK])
                removed += n if pattern.startswith(f"{self._prefix}r:") else 0
        return removed

    def check(self) -> str:
        import redis

        try:
            info = self.client.info("server")
        except redis.RedisError as exc:
            raise _unreachable(self.options.url, exc) from exc
        return f"Redis {info.get('redis_version', '?')}, namespace {self.options.namespace!r}"

    def close(self) -> None:
        self.client.close()
