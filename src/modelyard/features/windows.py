"""Sliding-window aggregates: the window state of one entity and the aggregates read from it.

**Semantics.** An aggregate with window ``w`` read at instant ``t`` covers the entity's events
with an event time in ``[t - w, t]``: events at exactly ``t`` count (all of them), and nothing
after ``t`` ever does. ``t`` is the entity row's time offline and the read time online, so a
``count`` over 10 minutes read an hour after the last event is 0. Nulls are ignored: ``count``
counts events, ``sum`` of no values is 0, ``mean`` / ``min`` / ``max`` of no values are null.
The offline store computes exactly this with DuckDB ``RANGE`` frames anchored at each entity
row (:func:`modelyard.storage.offline.sql.point_in_time_sql`).

**State.** Online, an entity's row holds its events of the last ``horizon`` (the widest window)
before its latest event, and the read path computes the aggregates at the read instant
(:func:`aggregates_at`); for any ``t`` at or after the latest event this is exact. The stream
processor keeps a :class:`WindowState` per entity (the events with their stream ids, so a
redelivered event changes nothing) and writes its :meth:`WindowState.snapshot` as the row;
materialization writes the same snapshot, computed from the offline rows.

A snapshot is ``{"h": horizon_ms, "ts": [ms, ...], "<column>": [value, ...], ...}``, times
ascending, one list per aggregated column.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Mapping, Sequence
from typing import Any

from modelyard.entities import MISSING, WindowAggregate
from modelyard.features.definitions import FeatureView

__all__ = [
    "WINDOW_FIELD",
    "WindowState",
    "aggregate",
    "aggregates_at",
    "snapshot",
    "window_aggregates",
]

WINDOW_FIELD = "__window"
"""The field of an online row of a windowed view that holds the entity's window snapshot."""


def window_aggregates(view: FeatureView) -> tuple[WindowAggregate, ...]:
    """The view's aggregations, as the offline store, the stream processor and the online read
    compute them (empty for a view of plain features)."""
    return tuple(
        WindowAggregate(a.output_name, a.function, a.column, a.window_ms) for a in view.aggregations
    )


def aggregate(agg: WindowAggregate, values: Sequence[Any]) -> Any:
    """One aggregate of the values in a window (nulls ignored; count counts events; the sum of
    no values is 0, their mean, min and max are null)."""
    if agg.function == "count":
        return len(values)
    present = [float(v) for v in values if v is not None]
    if agg.function == "sum":
        return float(sum(present))
    if not present:
        return None
    if agg.function == "mean":
        return sum(present) / len(present)
    if agg.function == "min":
        return min(present)
    return max(present)


def snapshot(
    horizon_ms: int, times: Sequence[int], columns: Mapping[str, Sequence[Any]]
) -> dict[str, Any]:
    """The online row value of a windowed view (``times`` ascending)."""
    return {"h": int(horizon_ms), "ts": list(times), **{c: list(v) for c, v in columns.items()}}


def aggregates_at(window: Any, aggs: Sequence[WindowAggregate], t: int) -> tuple[Any, ...]:
    """Each aggregate over the snapshot's events in ``[t - window, t]``. An aggregate the
    snapshot cannot answer (a column it does not hold, a window wider than its horizon: it was
    written for an older definition) is :data:`MISSING`."""
    times = window["ts"]
    horizon = window.get("h", 0)
    end = bisect.bisect_right(times, t)
    out = []
    for agg in aggs:
        if agg.window_ms > horizon:
            out.append(MISSING)
            continue
        start = bisect.bisect_left(times, t - agg.window_ms, 0, end)
        if agg.function == "count":
            out.append(end - start)
            continue
        column = window.get(agg.column)
        if column is None:
            out.append(MISSING)
            continue
        out.append(aggregate(agg, column[start:end]))
    return tuple(out)


class WindowState:
    """The stream processor's state of one entity: events ``[ts_ms, stream_id, {column:
    value}]`` sorted by time, those of the last ``horizon`` before the latest one."""

    __slots__ = ("events", "ids")

    def __init__(self, events: list[list[Any]] | None = None) -> None:
        self.events: list[list[Any]] = events or []
        self.ids = {e[1] for e in self.events}

    @classmethod
    def loads(cls, text: str | None) -> WindowState:
        return cls(json.loads(text)["events"] if text else None)

    def dumps(self) -> str:
        return json.dumps({"events": self.events}, separators=(",", ":"))

    @property
    def latest(self) -> int | None:
        return self.events[-1][0] if self.events else None

    def add(self, ts: int, event_id: str, values: Mapping[str, Any], horizon_ms: int) -> bool:
        """Add an event; False when it is a redelivery or too old to matter (older than the
        latest event minus the horizon: no read at or after the latest event covers it)."""
        if event_id in self.ids:
            return False
        latest = self.latest
        if latest is not None and ts < latest - horizon_ms:
            return False
        bisect.insort(self.events, [ts, event_id, dict(values)], key=lambda e: e[0])
        self.ids.add(event_id)
        cutoff = self.events[-1][0] - horizon_ms
        if self.events[0][0] < cutoff:
            keep = bisect.bisect_left(self.events, cutoff, key=lambda e: e[0])
            for e in self.events[:keep]:
                self.ids.discard(e[1])
            del self.events[:keep]
        return True

    def snapshot(self, columns: Sequence[str], horizon_ms: int) -> dict[str, Any]:
        """The events without their ids, as an online row holds them (see :func:`snapshot`)."""
        events = self.events
        return snapshot(
            horizon_ms,
            [e[0] for e in events],
            {c: [e[2].get(c) for e in events] for c in columns},
        )
