"""The scale-out online store: Redis, one hash per (view, entity).

Key ``<namespace>:f:<view>:<entity key>`` holds ``__ts`` (the event time in ms) and one field per
feature (JSON-encoded). A read of many entities is one pipelined round trip of ``HMGET`` s. A
write replaces a hash only when it is not older than the stored one (a small Lua script, so the
check and the write are atomic). Stream processing state lives in
``<namespace>:s:<view>:<entity key>`` and is updated with ``WATCH`` / ``MULTI`` together with the
rows it produced.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.entities import MISSING, OnlineRead, OnlineRow
from modelyard.errors import DependencyMissingError, StoreUnavailableError
from modelyard.storage.online.base import OnlineStore, RowInput, StateUpdate, decode_document
from modelyard.storage.schemes import validate_options

__all__ = ["RedisOnlineOptions", "RedisOnlineStore", "redis_client"]

_REPLACE_IF_NEWER = """
local cur = redis.call('HGET', KEYS[1], '__ts')
if cur and tonumber(cur) > tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], '__ts', unpack(ARGV))
return 1
"""
_READ_MANY = """
local rows = {}
for i, key in ipairs(KEYS) do
  local vals = redis.call('HMGET', key, unpack(ARGV))
  if not vals[1] then
    rows[i] = 'null'
  else
    local parts = {vals[1]}
    for j = 2, #ARGV do parts[j] = vals[j] or '{}' end
    rows[i] = '[' .. table.concat(parts, ',') .. ']'
  end
end
return '[' .. table.concat(rows, ',') .. ']'
"""
"""Reads every entity of one view and returns ONE JSON document: ``null`` for an entity with no
hash, else ``[ts, value, ...]`` (stored values are JSON already; ``{}`` marks a field the hash
does not hold). One bulk reply parsed by the C JSON decoder instead of one reply per value."""
_CHUNK = 1000
_DIGITS = frozenset(b"-0123456789")
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


def _decode(raw: bytes) -> Any:
    """A stored (JSON) value; numbers take a fast path that skips the JSON parser."""
    if raw[0] in _DIGITS:
        if b"." in raw or b"e" in raw or b"E" in raw or b"n" in raw:  # 1.5, 1e-05, -Infinity
            return float(raw)
        return int(raw)
    return json.loads(raw.decode())


def _row(reply: Sequence[bytes | None]) -> OnlineRow | None:
    if reply[0] is None:
        return None
    return OnlineRow(int(reply[0]), tuple(MISSING if v is None else _decode(v) for v in reply[1:]))


def _json_row(row: list[Any] | None) -> OnlineRow | None:
    if row is None:
        return None
    values = row[1:]
    if {} in values:  # a field the hash does not hold
        return OnlineRow(int(row[0]), tuple(MISSING if v == {} else v for v in values))
    return OnlineRow(int(row[0]), tuple(values))


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
        self._read_many = self.client.register_script(_READ_MANY)

    def _key(self, view: str, key: str) -> str:
        return f"{self._prefix}f:{view}:{key}"

    def _state_key(self, view: str, key: str) -> str:
        return f"{self._prefix}s:{view}:{key}"

    # -- reads (the hot path) ---------------------------------------------------------------
    def read(self, reads: Sequence[OnlineRead]) -> list[list[OnlineRow | None]]:
        import redis

        prefix = self._prefix
        try:
            if len(reads) == 1 and len(reads[0].keys) == 1:  # the common case: no pipeline
                r = reads[0]
                reply = self.client.hmget(f"{prefix}f:{r.view}:{r.keys[0]}", "__ts", *r.fields)
                return [[_row(reply)]]
            calls = [
                ([f"{prefix}f:{r.view}:{k}" for k in r.keys], ["__ts", *r.fields]) for r in reads
            ]
            if len(calls) == 1:  # one view: one EVALSHA (a pipeline would add SCRIPT EXISTS)
                replies = [self._read_many(keys=calls[0][0], args=calls[0][1])]
            else:
                pipe = self.client.pipeline(transaction=False)
                for keys, args in calls:  # one script call per view reads all its entities
                    self._read_many(keys=keys, args=args, client=pipe)
                replies = pipe.execute()
        except redis.ConnectionError as exc:
            raise _unreachable(self.options.url, exc) from exc
        return [[_json_row(row) for row in decode_document(reply)] for reply in replies]

    # -- writes -----------------------------------------------------------------------------
    def _queue_write(self, pipe: Any, view: str, rows: Iterable[RowInput]) -> int:
        n = 0
        for key, ts, values in rows:
            args: list[Any] = [int(ts)]
            for name, value in values.items():
                args += [name, json.dumps(value)]
            self._replace(keys=[self._key(view, key)], args=args, client=pipe)
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
        for _ in range(_MAX_RETRIES):
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
                removed += n if pattern.startswith(f"{self._prefix}f:") else 0
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
