"""The online feature store: the latest values per entity, for serving.

The backend is chosen by the URI's scheme: ``sqlite:///path/online.db`` (default, in-process) or
``redis://host:6379/0?namespace=prod``; an unknown scheme is an error that lists the known ones.
Each backend's options are a pydantic model next to it, so a typo in a URI fails at open time.
"""

from __future__ import annotations

from collections.abc import Callable

from modelyard.storage.online.base import OnlineStore, RowInput, StateUpdate
from modelyard.storage.online.cache import RedisKeyValueCache
from modelyard.storage.online.redis_store import RedisOnlineOptions, RedisOnlineStore, redis_client
from modelyard.storage.online.sqlite_store import SqliteOnlineOptions, SqliteOnlineStore
from modelyard.storage.schemes import SchemeRegistry

__all__ = [
    "OnlineStore",
    "RedisKeyValueCache",
    "RedisOnlineOptions",
    "RedisOnlineStore",
    "RowInput",
    "SqliteOnlineOptions",
    "SqliteOnlineStore",
    "StateUpdate",
    "known_schemes",
    "open_online_store",
    "redis_client",
    "register_online_scheme",
]

_REGISTRY: SchemeRegistry[OnlineStore] = SchemeRegistry(
    "online store", "sqlite:///path/to/online.db or redis://127.0.0.1:6379/0?namespace=prod"
)


def register_online_scheme(scheme: str, factory: Callable[[str], OnlineStore]) -> None:
    _REGISTRY.register(scheme, factory)


register_online_scheme("sqlite", SqliteOnlineStore)
for _scheme in ("redis", "rediss", "unix"):
    register_online_scheme(_scheme, RedisOnlineStore)


def known_schemes() -> list[str]:
    return _REGISTRY.known()


def open_online_store(uri: str) -> OnlineStore:
    return _REGISTRY.open(uri)
