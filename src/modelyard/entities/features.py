"""Feature store entities: stored definitions, materialization records, and the backend-neutral
query plans the feature capability hands to the offline and online stores. No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

DefinitionKind = Literal["entity", "feature_view", "feature_service"]
DEFINITION_KINDS: tuple[str, ...] = ("entity", "feature_view", "feature_service")

FEATURE_DTYPES: tuple[str, ...] = ("int64", "float64", "string", "bool")
"""The value types a feature may declare (aliases such as ``float`` are normalized to these)."""

ValueStatus = Literal["present", "expired", "not_found"]


@dataclass(frozen=True, slots=True)
class FeatureDefinitionRecord:
    """One stored version of an entity, feature view or feature service definition."""

    kind: str
    name: str
    version: int
    spec: Mapping[str, Any]
    digest: str
    created_at: int
    created_by: str

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "version": self.version,
            "digest": self.digest,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "spec": dict(self.spec),
        }


@dataclass(frozen=True, slots=True)
class Materialization:
    """One materialization of a feature view version into the online store: rows with event
    times in ``[start, end]`` (milliseconds since the epoch)."""

    view: str
    version: int
    start: int
    end: int
    rows: int
    created_at: int
    created_by: str


# -- query plans (built by modelyard.features, executed by the stores) -----------------------
@dataclass(frozen=True, slots=True)
class OfflineSource:
    """Where a feature view's offline rows come from: exactly one of ``path`` (a Parquet / CSV
    file, glob or fsspec URI), ``query`` (DuckDB SQL) or ``log`` (the rows the feature store
    appended for a view: pushed rows or streamed events)."""

    path: str | None = None
    query: str | None = None
    format: str | None = None
    log: str | None = None
    dedupe_column: str | None = None
    """For logs: a column whose duplicates are the same row written twice (stream ids)."""

    def describe(self) -> str:
        if self.path is not None:
            return self.path
        if self.query is not None:
            return f"query: {self.query.strip()[:80]}"
        return f"log: {self.log}"


@dataclass(frozen=True, slots=True)
class WindowAggregate:
    """``function`` of ``column`` over the same entity's events in ``[t - window, t]``, ``t``
    the instant the aggregate is read at."""

    name: str
    function: str
    column: str | None
    window_ms: int


@dataclass(frozen=True, slots=True)
class ViewQuery:
    """One feature view as the offline store needs it.

    The view's rows are the union of ``sources``; when ``aggregates`` is non-empty those rows are
    raw events and the store computes the windowed aggregates at each entity row's time.
    ``features`` maps each feature column to its dtype; ``outputs`` maps requested feature
    columns to the names of the output columns.
    """

    name: str
    sources: tuple[OfflineSource, ...]
    timestamp_field: str
    join_keys: tuple[str, ...]
    features: Mapping[str, str]
    outputs: tuple[tuple[str, str], ...] = ()
    ttl_ms: int | None = None
    created_field: str | None = None
    aggregates: tuple[WindowAggregate, ...] = ()


@dataclass(frozen=True, slots=True)
class OnlineRead:
    """Read ``fields`` of ``view`` for each entity key (one online store round trip for all)."""

    view: str
    keys: tuple[str, ...]
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OnlineRow:
    """A stored online row: the event time (ms) and the values of the fields asked for, in
    order; a field the row does not hold is :data:`MISSING`."""

    event_ms: int
    values: tuple[Any, ...] = field(default_factory=tuple)


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()
"""Stands for a feature an online row does not hold (as opposed to a stored null)."""
