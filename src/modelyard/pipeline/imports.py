"""Import user code named in a spec (``package.module:name`` or ``package.module.name``)."""

from __future__ import annotations

import importlib
from typing import Any

from modelyard.errors import InvalidArgumentError

__all__ = ["import_object", "qualified_name"]


def import_object(path: str, *, what: str, field: str) -> Any:
    """The object at ``path``; a missing module or attribute is an error naming ``field``."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise InvalidArgumentError(
            f"{what} {path!r} is not an import path; write 'package.module:name'.",
            field=field,
            value=path,
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidArgumentError(
            f"Cannot import module {module_name!r} for {what} {path!r}: {exc}. Check the path "
            "and that the package is installed (or on PYTHONPATH).",
            field=field,
            value=path,
        ) from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise InvalidArgumentError(
                f"Module {module_name!r} has no {attr!r} ({what} {path!r}).",
                field=field,
                value=path,
            ) from exc
    return obj


def qualified_name(obj: Any) -> str:
    """``module.qualname`` of a class or function: how skops names the type it rebuilds."""
    return f"{obj.__module__}.{obj.__qualname__}"
