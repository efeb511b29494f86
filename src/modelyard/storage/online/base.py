"""The online store interface: the latest feature values per entity, read on the hot path.

Rows are ``(entity_key, event_ms, values)``. A write never replaces a newer row with an older
one. Reads return, per entity key, the row's event time and the asked-for values (or None when
the store has no row); TTL is the caller's business (it knows the definitions).
"""

from __future__ import annotations

import abc
import json
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from modelyard.entities import MISSING, OnlineRead, OnlineRow

__all__ = [
    "OnlineStore",
    "RowInput",
    "StateUpdate",
    "decode",
    "decode_document",
    "encode",
    "field_picker",
]

RowInput = tuple[str, int, Mapping[str, Any]]
"""(entity key, event time in ms, feature name -> value)"""

StateUpdate = Callable[[dict[str, str | None]], tuple[list[RowInput], dict[str, str]]]
"""Given the current state of each key, return the rows to write and the new states."""


def encode(value: Any) -> str:
    """One value as stored (JSON; NaN allowed)."""
    return json.dumps(value)


def decode(raw: str | bytes) -> Any:
    return json.loads(raw)


def _document_decoder() -> Callable[[str | bytes], Any]:
    """orjson's parser when installed (the serve extra brings it): about 10x faster than the
    standard library on documents of floats, the bulk of a multi-entity read. It rejects the
    NaN / Infinity tokens ``json.dumps`` writes, so such a document falls back to ``json``."""
    try:
        import orjson
    except ImportError:
        return json.loads

    fast, error = orjson.loads, orjson.JSONDecodeError

    def loads(raw: str | bytes) -> Any:
        try:
            return fast(raw)
        except error:
            return json.loads(raw)

    return loads


decode_document = _document_decoder()
"""Parse one JSON document of many stored values (a multi-entity read)."""


def field_picker(fields: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """``values -> (values[f] for f in fields)`` with MISSING for an absent field; the common
    case (every field present) is one C-level ``itemgetter`` call."""
    names = tuple(fields)
    if len(names) == 1:
        only = names[0]
        return lambda values: (values.get(only, MISSING),)
    get = operator.itemgetter(*names)

    def pick(values: Mapping[str, Any]) -> tuple[Any, ...]:
        try:
            picked: tuple[Any, ...] = get(values)
            return picked
        except KeyError:
            return tuple(values.get(f, MISSING) for f in names)

    return pick


class OnlineStore(abc.ABC):
    uri: str

    @abc.abstractmethod
    def write(self, view: str, rows: Iterable[RowInput]) -> int:
        """Store rows of ``view``; a row older than the stored one is skipped. Returns the
        number of rows given."""

    @abc.abstractmethod
    def read(self, reads: Sequence[OnlineRead]) -> list[list[OnlineRow | None]]:
        """For each read, for each key: the stored row or None (one round trip for all)."""

    @abc.abstractmethod
    def transact(self, view: str, keys: Sequence[str], update: StateUpdate) -> int:
        """Atomically read the processing state of ``keys``, call ``update`` and write the rows
        and new states it returns (retrying ``update`` if another writer got in between).
        Returns the number of rows written."""

    @abc.abstractmethod
    def delete_view(self, view: str) -> int:
        """Remove every row (and processing state) of a view; returns the rows removed."""

    @abc.abstractmethod
    def check(self) -> str:
        """Raise a ModelyardError when the store is unusable; otherwise describe it."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
