"""Sliding-window aggregation state of one entity (pure; the stream processor stores it).

The state keeps the entity's events of the last ``horizon`` (the widest window) with their
stream ids. An event whose id is already there is a redelivery and changes nothing; an event
older than ``latest - horizon`` cannot change any current window and is dropped. Aggregates are
computed as of the latest event: over the events with a time in ``[latest - window, latest]``
(events at the same instant all count), exactly what the offline store computes with a DuckDB
``RANGE`` window at that event.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Mapping, Sequence
from typing import Any

from modelyard.entities import WindowAggregate

__all__ = ["WindowState", "aggregate"]


def aggregate(agg: WindowAggregate, values: Sequence[Any]) -> Any:
    """One aggregate of the values in a window (nulls ignored; count counts events)."""
    if agg.function == "count":
        return len(values)
    present = [float(v) for v in values if v is not None]
    if not present:
        return None
    if agg.function == "sum":
        return sum(present)
    if agg.function == "mean":
        return sum(present) / len(present)
    if agg.function == "min":
        return min(present)
    return max(present)


class WindowState:
    """Events ``[ts_ms, stream_id, {column: value}]`` sorted by time."""

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
        """Add an event; False when it is a redelivery or too old to matter."""
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

    def aggregates(self, aggs: Sequence[WindowAggregate]) -> dict[str, Any]:
        """Each aggregate as of the latest event."""
        latest = self.latest
        if latest is None:
            return {}
        out = {}
        for agg in aggs:
            start = bisect.bisect_left(self.events, latest - agg.window_ms, key=lambda e: e[0])
            window = self.events[start:]
            out[agg.name] = aggregate(agg, [e[2].get(agg.column) for e in window])
        return out
