"""The online feature store: the latest values per entity, for serving.

The backend is chosen by the URI's scheme: ``sqlite:///path/online.db`` (default, in-process) or
``redis://host:6379/0?namespace=prod``; an unknown scheme is an error that lists the known ones.
Each backend's options are a pydantic model next to it, so a typo in a URI fails at open time.
"""

from __future__ import annotations

from collections.abc import Callable

from modelyard.errors import UnknownSchemeError, suggest
from modelyard.storage.online.base import OnlineStore, RowInput, StateUpdate
from modelyard.storage.online.redis_store import RedisOnlineOptions, RedisOnlineStore, redis_client
from modelyard.storage.online.sqlite_store import SqliteOnlineOptions, SqliteOnlineStore

__all__ = [
    "OnlineStore",
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

_SCHEMES: dict[str, Callable[[str], OnlineStore]] = {}


def register_online_scheme(scheme: str, factory: Callable[[str], OnlineStore]) -> None:
    _SCHEMES[scheme] = factory


register_online_scheme("sqlite", SqliteOnlineStore)
for _scheme in ("redis", "rediss", "unix"):
    register_online_scheme(_scheme, RedisOnlineStore)


def known_schemes() -> list[str]:
    return sorted(_SCHEMES)


def open_online_store(uri: str) -> OnlineStore:
    scheme = uri.partition("://")[0].lower() if "://" in uri else ""
    factory = _SCHEMES.get(scheme)
    if factory is None:
        raise UnknownSchemeError(
            f"Unknown online store scheme {scheme or uri!r} in {uri!r}"
            f"{suggest(scheme, list(_SCHEMES))}. Known schemes: {', '.join(known_schemes())}. "
            "Example: sqlite:///path/to/online.db or redis://127.0.0.1:6379/0?namespace=prod.",
            uri=uri,
            known=known_schemes(),
        )
    return factory(uri)
