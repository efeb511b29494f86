"""Request rows checked against a model's signature, in plain Python (no frame per request).

A request's rows become lists in the signature's column order; one frame is built per batch.
Missing, unknown and mistyped inputs are a :class:`~modelyard.errors.SpecError` (HTTP 422)
naming the row and the field, e.g. ``instances[2].amount: expected a number, got 'abc'``.

Columns the server fills itself (online features fetched by entity id) may be left out of a
request; the entity join keys they need must then be given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from modelyard.errors import SpecError, suggest
from modelyard.flavors import Signature

__all__ = ["InputSchema", "Rows"]

Rows = list[list[Any]]

_ALLOWED: dict[str, frozenset[type]] = {
    "float": frozenset({float, int}),
    "integer": frozenset({int}),
    "boolean": frozenset({bool}),
    "string": frozenset({str}),
    "category": frozenset({str, int, float, bool}),
    "datetime": frozenset({str}),
}
_EXPECTED = {
    "float": "a number",
    "integer": "an integer",
    "boolean": "true or false",
    "string": "a string",
    "category": "a string or number",
    "datetime": "an ISO-8601 date-time string",
}
_MISSING: Any = object()


class InputSchema:
    """What a request must hold for one model, and how a batch of rows becomes its frame.

    ``provided``: inputs the server fills (online features); ``keys``: the entity join keys a
    request must then carry (they may be extra fields of a row).
    """

    def __init__(
        self,
        signature: Signature | None,
        *,
        provided: Sequence[str] = (),
        keys: Sequence[str] = (),
    ) -> None:
        self.signature = signature
        self.names: list[str] | None = signature.input_names if signature else None
        self.provided = frozenset(provided)
        self.keys = tuple(keys)
        specs = signature.inputs if signature else ()
        self._checks = [
            (s.name, _ALLOWED.get(s.type, frozenset()), s.nullable, s.type)
            for s in specs
            if s.name not in self.provided
        ]
        self._positions = [i for i, s in enumerate(specs) if s.name not in self.provided]
        self.request_types: dict[str, str] | None = (
            {name: kind for name, _allowed, _nullable, kind in self._checks} if self.names else None
        )
        """each input a request gives, in signature order -> its signature type (``float``,
        ``string`` ...); None without a signature (or one without inputs). Built once: the v2
        route reads it per request."""
        self._known = {s.name for s in specs} | set(self.keys)
        self.all_float = bool(specs) and all(s.type == "float" for s in specs)
        self._width = len(specs)
        # the common case in one C-level pass: every input a number, nothing filled by the server
        self._plain = self.all_float and not self.provided and not self.keys
        self._plain_types: set[type] = {float, int}
        if all(s.nullable for s in specs):
            self._plain_types.add(type(None))

    @property
    def request_names(self) -> list[str]:
        """The inputs a request must give (the signature's, less what the server fills)."""
        return [name for name, *_ in self._checks]

    # -- parsing ------------------------------------------------------------------------------
    def from_records(self, records: Any, where: str = "instances") -> tuple[Rows, list[Any]]:
        """Rows in signature order (None where the server fills a value) and, when features are
        fetched, each row's entity keys."""
        if not isinstance(records, list):
            raise _error(where, f"must be a list of objects, got {type(records).__name__}", where)
        if not records:
            raise _error(where, "is empty: send at least one row", where)
        rows: Rows = []
        keys: list[Any] = []
        for i, record in enumerate(records):
            if type(record) is not dict:
                raise _error(
                    f"{where}[{i}]",
                    f"must be an object of input name -> value, got {type(record).__name__}",
                    where,
                )
            if self.names is None:
                rows.append(record)  # type: ignore[arg-type]
                continue
            rows.append(self._row(record, f"{where}[{i}]"))
            if self.keys:
                keys.append(self._keys(record, f"{where}[{i}]"))
        return rows, keys

    def from_columns(self, columns: Any, where: str = "inputs") -> tuple[Rows, list[Any]]:
        """The same from ``{"name": [values...], ...}``."""
        if not isinstance(columns, dict) or not columns:
            raise _error(where, "must be an object of input name -> list of values", where)
        lengths = set()
        for name, values in columns.items():
            if not isinstance(values, list):
                raise _error(
                    f"{where}.{name}",
                    f"must be a list of values, got {type(values).__name__}",
                    name,
                )
            lengths.add(len(values))
        if len(lengths) != 1:
            raise _error(where, f"columns have different lengths: {sorted(lengths)}", where)
        names = list(columns)
        records = [dict(zip(names, values)) for values in zip(*columns.values())]
        return self.from_records(records, where)

    def _row(self, record: dict[str, Any], where: str) -> list[Any]:
        if self._plain and len(record) == self._width:
            try:
                row = list(map(record.__getitem__, self.names))  # type: ignore[arg-type]
            except KeyError:
                pass  # the loop below names the missing input
            else:
                if set(map(type, row)) <= self._plain_types:
                    return row
        row = [None] * self._width
        for pos, (name, allowed, nullable, kind) in zip(self._positions, self._checks):
            value = record.get(name, _MISSING)
            if type(value) not in allowed:
                value = self._slow(value, name, allowed, nullable, kind, where)
            row[pos] = value
        if len(record) != len(self._checks):
            self._unknown(record, where)
        return row

    def _slow(
        self, value: Any, name: str, allowed: frozenset[type], nullable: bool, kind: str, where: str
    ) -> Any:
        if value is _MISSING:
            raise _error(
                where,
                f"missing input {name!r}; the model expects {', '.join(self.request_names)}",
                name,
            )
        if value is None:
            if nullable or kind == "category":
                return None
            raise _error(
                f"{where}.{name}",
                "must not be null (the model's signature says it is never missing)",
                name,
            )
        if kind == "integer" and type(value) is float and value.is_integer():
            return int(value)
        raise _error(
            f"{where}.{name}",
            f"expected {_EXPECTED.get(kind, kind)}, got {_show(value)}",
            name,
        )

    def _unknown(self, record: dict[str, Any], where: str) -> None:
        for name in record:
            if name not in self._known:
                hint = suggest(name, self._known)
                raise _error(
                    f"{where}.{name}",
                    f"unknown input{hint}; the model expects {', '.join(self.request_names)}"
                    + (f" (and the entity keys {', '.join(self.keys)})" if self.keys else ""),
                    name,
                )
            if name in self.provided:
                raise _error(
                    f"{where}.{name}",
                    "is fetched from the online store by the entity keys; do not send it",
                    name,
                )

    def _keys(self, record: dict[str, Any], where: str) -> dict[str, Any]:
        try:
            return {k: record[k] for k in self.keys}
        except KeyError as exc:
            key = exc.args[0]
            raise _error(
                where,
                f"missing entity key {key!r}: the server fetches this model's features by "
                f"{', '.join(self.keys)}",
                key,
            ) from None

    # -- one frame per batch ---------------------------------------------------------------------
    def frame(self, rows: Sequence[Any]) -> pd.DataFrame:
        """The batch in the signature's layout (column order, dtypes, category sets)."""
        if self.names is None:
            return pd.DataFrame.from_records(list(rows))
        if self.all_float:
            return pd.DataFrame(np.array(rows, dtype=np.float64), columns=self.names)
        assert self.signature is not None
        raw = pd.DataFrame.from_records(list(rows), columns=self.names)
        return self.signature.conform(raw)

    def canonical(self, row: Sequence[Any]) -> bytes:
        """A stable byte key of one row's values (the prediction cache's key)."""
        import orjson

        return orjson.dumps(list(row), option=orjson.OPT_SERIALIZE_NUMPY)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _error(path: str, message: str, field: str) -> SpecError:
    text = f"{path}: {message}"
    return SpecError(f"Invalid request: {text}.", field=field, problems=[text])
