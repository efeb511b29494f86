"""The offline feature store: historical feature rows queried by DuckDB, on local files or S3.

The backend is chosen by the URI's scheme (``duckdb:///dir``, ``file:///dir``,
``s3://bucket/prefix``); an unknown scheme is an error that lists the known ones. Options are
query parameters validated by the backend's pydantic model (``?memory_limit=4GB&threads=2``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelyard.storage.offline.base import EntityInput, OfflineStore
from modelyard.storage.offline.duckdb_store import DuckDBOfflineOptions, DuckDBOfflineStore
from modelyard.storage.schemes import SchemeRegistry

__all__ = [
    "DuckDBOfflineOptions",
    "DuckDBOfflineStore",
    "EntityInput",
    "OfflineStore",
    "known_schemes",
    "open_offline_store",
    "register_offline_scheme",
]

_REGISTRY: SchemeRegistry[OfflineStore] = SchemeRegistry(
    "offline store", "duckdb:///path/to/offline or s3://bucket/prefix"
)


def register_offline_scheme(scheme: str, factory: Callable[..., OfflineStore]) -> None:
    _REGISTRY.register(scheme, factory)


for _scheme in ("duckdb", "file", "s3", "memory"):
    register_offline_scheme(_scheme, DuckDBOfflineStore)


def known_schemes() -> list[str]:
    return _REGISTRY.known()


def open_offline_store(uri: str, **options: Any) -> OfflineStore:
    return _REGISTRY.open(uri, **options)
