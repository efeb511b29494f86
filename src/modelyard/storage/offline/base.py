"""The offline store interface: what the feature capability asks of any offline backend."""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from typing import Any

from modelyard.entities import OfflineSource, ViewQuery

__all__ = ["EntityInput", "OfflineStore"]

EntityInput = Any
"""A ``pyarrow.Table`` of entity rows, or the path / URI of a Parquet or CSV file of them."""


class OfflineStore(abc.ABC):
    """Historical feature rows: point-in-time joins, latest values, and append-only logs."""

    uri: str

    @abc.abstractmethod
    def get_historical_features(
        self,
        entities: EntityInput,
        timestamp_column: str,
        views: Sequence[ViewQuery],
        *,
        output: str | None = None,
    ) -> Any:
        """Every entity row, in input order, with each view's output columns: the values of the
        latest view row at or before the row's timestamp and within the view's TTL (null
        otherwise); for a view with aggregates, each aggregate over the entity's events in
        ``[row time - window, row time]`` (null when the entity has no event within the TTL
        at or before the row time). Returns a ``pyarrow.Table``, or writes Parquet to
        ``output`` and returns its row count."""

    @abc.abstractmethod
    def latest_values(
        self, view: ViewQuery, start_ms: int, end_ms: int, batch_rows: int = 10_000
    ) -> Iterator[Any]:
        """Per entity, the latest row of ``view`` with an event time in ``[start, end]``:
        ``pyarrow.RecordBatch`` es of the join keys, ``__ts_ms`` and every feature. For a view
        with aggregates, per entity with an event in ``[start, end]``: ``__ts_ms`` (its latest
        event time up to ``end``), ``__times`` (its event times from ``__ts_ms`` minus the
        widest window to ``__ts_ms``, ascending) and one list of values per aggregated
        column."""

    @abc.abstractmethod
    def sample_keys(self, view: ViewQuery, n: int, at_ms: int, seed: int = 0) -> Any:
        """Up to ``n`` distinct entity keys (a ``pyarrow.Table``) with rows at or before ``at``."""

    @abc.abstractmethod
    def describe_source(self, source: OfflineSource) -> dict[str, str]:
        """Column name -> type of a source (checks that it exists and can be read)."""

    def describe_entity_file(self, path: str) -> dict[str, str]:
        """Column name -> type of a Parquet / CSV file of entity rows (a missing file is
        reported as an entity file, not as a feature view's source)."""
        return self.describe_source(OfflineSource(path=path))

    @abc.abstractmethod
    def append_log(self, log: str, table: Any, name: str | None = None) -> str:
        """Append rows (a ``pyarrow.Table``) to the named log; returns the file written.
        Writing the same ``name`` again replaces that file (an idempotent retry)."""

    @abc.abstractmethod
    def has_log(self, log: str) -> bool:
        """Whether the named log holds any rows."""

    @abc.abstractmethod
    def check(self) -> str:
        """Raise a ModelyardError when the store is unusable; otherwise describe it."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
