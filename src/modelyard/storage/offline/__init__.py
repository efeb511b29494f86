"""The offline feature store: historical feature rows queried by DuckDB, on local files or S3.

The backend is chosen by the URI's scheme (``duckdb:///dir``, ``file:///dir``,
``s3://bucket/prefix``); an unknown scheme is an error that lists the known ones. Options are
query parameters validated by the backend's pydantic model (``?memory_limit=4GB&threads=2``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelyard.errors import UnknownSchemeError, suggest
from modelyard.storage.offline.base import EntityInput, OfflineStore
from modelyard.storage.offline.duckdb_store import DuckDBOfflineOptions, DuckDBOfflineStore

__all__ = [
    "DuckDBOfflineOptions",
    "DuckDBOfflineStore",
    "EntityInput",
    "OfflineStore",
    "known_schemes",
    "open_offline_store",
    "register_offline_scheme",
]

_SCHEMES: dict[str, Callable[..., OfflineStore]] = {}


def register_offline_scheme(scheme: str, factory: Callable[..., OfflineStore]) -> None:
    _SCHEMES[scheme] = factory


for _scheme in ("duckdb", "file", "s3", "memory"):
    register_offline_scheme(_scheme, DuckDBOfflineStore)


def known_schemes() -> list[str]:
    return sorted(_SCHEMES)


def open_offline_store(uri: str, **options: Any) -> OfflineStore:
    scheme = uri.partition("://")[0].lower() if "://" in uri else ""
    factory = _SCHEMES.get(scheme)
    if factory is None:
        raise UnknownSchemeError(
            f"Unknown offline store scheme {scheme or uri!r} in {uri!r}"
            f"{suggest(scheme, list(_SCHEMES))}. Known schemes: {', '.join(known_schemes())}. "
            "Example: duckdb:///path/to/offline or s3://bucket/prefix.",
            uri=uri,
            known=known_schemes(),
        )
    return factory(uri, **options)
