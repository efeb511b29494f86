"""Checks on names and values that every layer shares (pure functions, no I/O)."""

from __future__ import annotations

import math
import re
from typing import Any

from modelyard.errors import InvalidArgumentError

KEY_PATTERN = re.compile(r"^[\w\-. /:]{1,250}$")
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000


def check_key(kind: str, key: Any) -> str:
    """A metric / param / tag name: 1-250 of letters, digits, ``_ - . / : `` and spaces."""
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise InvalidArgumentError(
            f"Invalid {kind} name {key!r}: use 1-250 letters, digits, underscores, dashes, "
            "periods, slashes, colons or spaces.",
            field=kind,
            value=repr(key),
        )
    return key


def check_value_length(kind: str, key: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise InvalidArgumentError(
            f"The value of {kind} {key!r} is {len(value)} characters long; the limit is {limit}. "
            "Log long text as an artifact instead.",
            field=f"{kind}s.{key}",
        )
    return value


def to_metric_value(key: str, value: Any) -> float:
    """A metric value as float; NaN and +/-inf are allowed, anything non-numeric is not."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            import numpy as np

            if isinstance(value, np.generic) and np.issubdtype(type(value), np.number):
                return float(value)
        except ImportError:  # pragma: no cover
            pass
        raise InvalidArgumentError(
            f"Metric {key!r} must be a number, got {type(value).__name__} {value!r}.",
            field=f"metrics.{key}",
        )
    return float(value)


def to_int(kind: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            if float(value).is_integer():
                return int(value)
        except (TypeError, ValueError):
            pass
        raise InvalidArgumentError(f"{kind} must be an integer, got {value!r}.", field=kind)
    return value


def stringify(value: Any) -> str:
    """How a param or tag value is stored: str(), with floats written the short way."""
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return str(value)
