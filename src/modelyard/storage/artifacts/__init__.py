"""The artifact store: models, datasets and reports, on local files or S3 (via fsspec).

The backend is chosen by the URI's scheme (``file://``, ``s3://``); an unknown scheme is an error
that lists the known ones. Every file written is returned with its size and sha256.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelyard.errors import UnknownSchemeError, suggest
from modelyard.storage.artifacts.fsspec_store import ArtifactStore, sha256_file

__all__ = [
    "ArtifactStore",
    "known_schemes",
    "open_artifact_store",
    "register_artifact_scheme",
    "sha256_file",
]

_SCHEMES: dict[str, Callable[..., ArtifactStore]] = {}


def register_artifact_scheme(scheme: str, factory: Callable[..., ArtifactStore]) -> None:
    _SCHEMES[scheme] = factory


for _scheme in ("file", "s3", "memory"):
    register_artifact_scheme(_scheme, ArtifactStore)


def known_schemes() -> list[str]:
    return sorted(_SCHEMES)


def scheme_of(uri: str) -> str:
    return uri.partition("://")[0].lower() if "://" in uri else "file"


def open_artifact_store(uri: str, **options: Any) -> ArtifactStore:
    """An artifact store rooted at ``uri`` (a plain path means ``file://``)."""
    scheme = scheme_of(uri)
    factory = _SCHEMES.get(scheme)
    if factory is None:
        raise UnknownSchemeError(
            f"Unknown artifact store scheme {scheme!r} in {uri!r}{suggest(scheme, list(_SCHEMES))}. "
            f"Known schemes: {', '.join(known_schemes())}. Example: file:///data/artifacts or "
            "s3://bucket/prefix.",
            uri=uri,
            known=known_schemes(),
        )
    return factory(uri, **options)
