"""Compute backends: where parallel work runs, chosen by the ``compute`` setting.

    backend = get_backend(settings.compute)          # "local", "local:4"
    results = backend.map(train_one, configs)

``local`` runs worker processes on this machine. A cluster backend (Ray) is one module that
subclasses :class:`ComputeBackend` and calls :func:`register_backend` with its scheme.
"""

from __future__ import annotations

from collections.abc import Callable

from modelyard.compute.base import ComputeBackend, TaskGroup
from modelyard.compute.local import LocalBackend, TaskFailedError
from modelyard.errors import UnknownSchemeError, suggest

__all__ = [
    "ComputeBackend",
    "LocalBackend",
    "TaskFailedError",
    "TaskGroup",
    "get_backend",
    "known_backends",
    "register_backend",
]

_BACKENDS: dict[str, Callable[[str], ComputeBackend]] = {}


def register_backend(scheme: str, factory: Callable[[str], ComputeBackend]) -> None:
    """Serve compute settings starting with ``scheme`` (``ray``, ``ray://host``) with ``factory``."""
    _BACKENDS[scheme] = factory


register_backend("local", LocalBackend.from_uri)


def known_backends() -> list[str]:
    return sorted(_BACKENDS)


def get_backend(setting: str) -> ComputeBackend:
    """The backend a ``compute`` setting names: ``local``, ``local:N``, or a registered scheme."""
    scheme = setting.split("://", 1)[0].split(":", 1)[0].lower().strip()
    factory = _BACKENDS.get(scheme)
    if factory is None:
        raise UnknownSchemeError(
            f"Unknown compute backend {setting!r}{suggest(scheme, list(_BACKENDS))}. Known: "
            f"{', '.join(known_backends())} (e.g. MODELYARD_COMPUTE=local or local:4).",
            setting="compute",
            value=setting,
            known=known_backends(),
        )
    return factory(setting)
