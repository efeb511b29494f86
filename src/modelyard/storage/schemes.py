"""Shared by the feature store kinds: a scheme registry (URI scheme -> backend factory) and the
validation of a backend's URI options (its pydantic model), both with errors that say how to fix
the URI."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from modelyard.errors import ConfigError, UnknownSchemeError, suggest

__all__ = ["SchemeRegistry", "validate_options"]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


def validate_options(model: type[M], uri: str, kind: str, **values: Any) -> M:
    """``model(**values)``, or a ConfigError listing every problem and the known options."""
    try:
        return model(**values)
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        known = [f for f in model.model_fields if f not in ("root", "path", "url")]
        raise ConfigError(
            f"Invalid {kind} URI {uri!r}: {'; '.join(problems)}. Known options: "
            f"{', '.join(known)}.",
            uri=uri,
            problems=problems,
        ) from None


class SchemeRegistry(Generic[T]):
    """URI scheme -> factory, for one store kind."""

    def __init__(self, kind: str, example: str) -> None:
        self.kind = kind
        self.example = example
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, scheme: str, factory: Callable[..., T]) -> None:
        self._factories[scheme] = factory

    def known(self) -> list[str]:
        return sorted(self._factories)

    def open(self, uri: str, **options: Any) -> T:
        scheme = uri.partition("://")[0].lower() if "://" in uri else ""
        factory = self._factories.get(scheme)
        if factory is None:
            raise UnknownSchemeError(
                f"Unknown {self.kind} scheme {scheme or uri!r} in {uri!r}"
                f"{suggest(scheme, list(self._factories))}. Known schemes: "
                f"{', '.join(self.known())}. Example: {self.example}.",
                uri=uri,
                known=self.known(),
            )
        return factory(uri, **options)
