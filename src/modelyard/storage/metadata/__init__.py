"""The metadata store: experiments, runs, registry, audit and lineage, on SQLite or PostgreSQL.

The backend is chosen by the URI's scheme; :func:`open_metadata_store` looks it up in a registry
that maps schemes to factories, and an unknown scheme is an error that lists the known ones.
"""

from __future__ import annotations

from collections.abc import Callable

from modelyard.errors import UnknownSchemeError, suggest
from modelyard.storage.metadata.audit import AuditStore
from modelyard.storage.metadata.database import SCHEMA_HEAD, Database, redact
from modelyard.storage.metadata.features import FeatureMetadataStore, spec_digest
from modelyard.storage.metadata.monitoring import MonitoringStore
from modelyard.storage.metadata.registry import RegistryStore
from modelyard.storage.metadata.tracking import TrackingStore

__all__ = [
    "SCHEMA_HEAD",
    "AuditStore",
    "FeatureMetadataStore",
    "MetadataStore",
    "MonitoringStore",
    "RegistryStore",
    "TrackingStore",
    "known_schemes",
    "open_metadata_store",
    "redact",
    "register_metadata_scheme",
    "spec_digest",
]


class MetadataStore:
    """Facade over one database: ``.tracking``, ``.registry``, ``.audit``, ``.features``,
    ``.monitoring``."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.db = Database(uri)
        self.tracking = TrackingStore(self.db)
        self.registry = RegistryStore(self.db)
        self.audit = AuditStore(self.db)
        self.features = FeatureMetadataStore(self.db)
        self.monitoring = MonitoringStore(self.db)

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def close(self) -> None:
        self.db.dispose()

    def __repr__(self) -> str:
        return f"MetadataStore({redact(self.uri)!r})"


_SCHEMES: dict[str, Callable[[str], MetadataStore]] = {}


def register_metadata_scheme(scheme: str, factory: Callable[[str], MetadataStore]) -> None:
    _SCHEMES[scheme] = factory


for _scheme in ("sqlite", "postgresql", "postgres", "postgresql+psycopg"):
    register_metadata_scheme(_scheme, MetadataStore)


def known_schemes() -> list[str]:
    return sorted(_SCHEMES)


def open_metadata_store(uri: str) -> MetadataStore:
    scheme = uri.partition("://")[0].lower() if "://" in uri else ""
    factory = _SCHEMES.get(scheme)
    if factory is None:
        raise UnknownSchemeError(
            f"Unknown metadata store scheme {scheme or uri!r} in {redact(uri)!r}"
            f"{suggest(scheme, list(_SCHEMES))}. Known schemes: {', '.join(known_schemes())}. "
            "Example: sqlite:///path/to/modelyard.db or postgresql://user@host/db.",
            uri=redact(uri),
            known=known_schemes(),
        )
    return factory(uri)
