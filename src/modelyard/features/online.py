"""The online read path: latest feature values per entity, with TTL enforced on read.

Every value comes back with a status: ``present``, ``expired`` (the stored value is older than
the view's TTL at read time: returned as None, never as fresh) or ``not_found``. Plans (which
views, keys and fields a feature list needs) are built once per feature list and cached, so a
read is: build the entity keys, one store round trip, assemble lists. No pandas.

A read has an instant: the clock by default, or an explicit time (one, or one per row). A value
whose event time is after an explicit instant is from its future and reads as ``not_found``.
A view with aggregates stores each entity's window state; its aggregates are computed at the
read instant (:func:`modelyard.features.windows.aggregates_at`), so they slide with it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelyard.entities import MISSING, OnlineRead, OnlineRow, WindowAggregate
from modelyard.errors import DataValidationError, InvalidArgumentError
from modelyard.features.resolve import Resolved, entity_key, key_value
from modelyard.features.windows import WINDOW_FIELD, aggregates_at, window_aggregates
from modelyard.storage.online import OnlineStore

__all__ = ["OnlineFeatures", "OnlinePlan"]

PRESENT, EXPIRED, NOT_FOUND = "present", "expired", "not_found"
EntityRows = Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]


@dataclass(frozen=True, slots=True)
class OnlineFeatures:
    """Values and statuses per entity row, in the order of ``feature_names``."""

    feature_names: list[str]
    values: list[list[Any]]
    statuses: list[list[str]]
    event_ms: list[list[int | None]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature_names": self.feature_names,
            "results": [
                {"values": v, "statuses": s, "event_timestamps": t}
                for v, s, t in zip(self.values, self.statuses, self.event_ms)
            ],
        }

    def to_records(self) -> list[dict[str, Any]]:
        names = self.feature_names
        return [dict(zip(names, row)) for row in self.values]

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.values, columns=self.feature_names)


@dataclass(frozen=True, slots=True)
class _ViewPlan:
    name: str
    join_keys: tuple[str, ...]
    fields: tuple[str, ...]
    ttl_ms: int | None
    positions: tuple[int, ...]
    aggregates: tuple[WindowAggregate, ...] = ()
    """Per requested feature, its aggregate (a windowed view; ``fields`` is then the window)."""
    span: slice | None = None
    """The output slice when the view's features sit side by side in the output."""


class OnlinePlan:
    """How to read one list of features: per view, its keys, fields and output positions."""

    def __init__(self, resolved: Resolved) -> None:
        self.feature_names = list(resolved.names)
        out_pos: dict[tuple[int, int], int] = {p: i for i, p in enumerate(resolved.positions)}
        self.views = []
        for vi, rv in enumerate(resolved.views):
            if not rv.view.online:
                continue
            positions = tuple(out_pos[(vi, fi)] for fi in range(len(rv.features)))
            aggs = {a.name: a for a in window_aggregates(rv.view)}
            windowed = tuple(aggs[f] for f in rv.features) if aggs else ()
            fields = (WINDOW_FIELD,) if aggs else rv.features
            span = slice(positions[0], positions[-1] + 1)
            side_by_side = positions == tuple(range(span.start, span.stop))
            self.views.append(
                _ViewPlan(
                    rv.name,
                    rv.join_keys,
                    fields,
                    rv.view.ttl_ms,
                    positions,
                    windowed,
                    span if side_by_side else None,
                )
            )
        offline_only = [rv.name for rv in resolved.views if not rv.view.online]
        if offline_only:
            raise InvalidArgumentError(
                f"Feature view {offline_only[0]!r} is offline-only (online: false); its "
                "features cannot be read online.",
                view=offline_only[0],
            )

    def _keys(self, rows: EntityRows) -> tuple[int, list[tuple[str, ...]]]:
        if isinstance(rows, Mapping):
            columns = rows
            n = len(next(iter(columns.values()))) if columns else 0
            get = _column_getter(columns, n)
        else:
            n = len(rows)
            get = _row_getter(rows)
        keys = []
        for view in self.views:
            single = _single_key_column(rows, view.join_keys, n)
            if single is not None:  # one text key per row: the keys are the values themselves
                keys.append(single)
            else:
                names = view.join_keys
                keys.append(tuple(_read_key(names, get(names, i), i) for i in range(n)))
        return n, keys

    def read(
        self,
        store: OnlineStore,
        rows: EntityRows,
        now_ms: int | Sequence[int] | None = None,
        *,
        hide_future: bool | None = None,
    ) -> OnlineFeatures:
        """``now_ms``: the read instant — the clock by default, one time for all rows, or one
        per row (replaying past events, each as of its own time). TTL is checked against it and
        windowed aggregates are computed at it. A value newer than an explicit instant is from
        its future and reads as not found (``hide_future``, default: when an instant is given;
        with it off such a value is read as of its own time, as with the clock)."""
        n, keys = self._keys(rows)
        per_row: Sequence[int] | None = None
        now = int(time.time() * 1000)
        if isinstance(now_ms, int):
            now = now_ms
        elif now_ms is not None:
            if len(now_ms) != n:
                raise DataValidationError(
                    f"{len(now_ms)} read times for {n} entity rows; give one per row.",
                    field="now",
                )
            per_row = now_ms
        hide = now_ms is not None if hide_future is None else hide_future
        width = len(self.feature_names)
        values = [[None] * width for _ in range(n)]
        statuses = [[NOT_FOUND] * width for _ in range(n)]
        stamps: list[list[int | None]] = [[None] * width for _ in range(n)]
        out = OnlineFeatures(self.feature_names, values, statuses, stamps)
        results = store.read([OnlineRead(v.name, k, v.fields) for v, k in zip(self.views, keys)])
        for view, found in zip(self.views, results):
            if view.aggregates:
                _fill_windows(out, view, found, now, per_row, hide)
                continue
            positions, ttl, span = view.positions, view.ttl_ms, view.span
            present = [PRESENT] * len(positions)
            for i, row in enumerate(found):
                if row is None:
                    continue
                at = now if per_row is None else per_row[i]
                if hide and row.event_ms > at:
                    continue  # as of a past time, a newer value is from that time's future
                stamp = stamps[i]
                if ttl is not None and at - row.event_ms > ttl:
                    status = statuses[i]
                    for p in positions:
                        status[p] = EXPIRED
                        stamp[p] = row.event_ms
                    continue
                if span is not None and MISSING not in row.values:  # the common case
                    values[i][span] = row.values
                    statuses[i][span] = present
                    stamp[span] = [row.event_ms] * len(positions)
                    continue
                value, status = values[i], statuses[i]
                for p, v in zip(positions, row.values):
                    if v is not MISSING:
                        value[p] = v
                        status[p] = PRESENT
                        stamp[p] = row.event_ms
        return out


def _fill_windows(
    out: OnlineFeatures,
    view: _ViewPlan,
    found: Sequence[OnlineRow | None],
    now: int,
    per_row: Sequence[int] | None,
    hide: bool,
) -> None:
    """A windowed view's aggregates at each row's instant, from the stored window states. The
    TTL applies to the entity's latest event: older than the TTL, every value is expired. A
    state newer than the instant (when not hidden) is read as of its latest event."""
    positions, ttl = view.positions, view.ttl_ms
    for i, row in enumerate(found):
        if row is None:
            continue
        at = now if per_row is None else per_row[i]
        if row.event_ms > at:
            if hide:
                continue
            at = row.event_ms
        window = row.values[0]
        if not isinstance(window, dict):
            continue  # a row of the layout before window states: materialize again
        stamp, status, value = out.event_ms[i], out.statuses[i], out.values[i]
        if ttl is not None and at - row.event_ms > ttl:
            for p in positions:
                status[p] = EXPIRED
                stamp[p] = row.event_ms
            continue
        for p, v in zip(positions, aggregates_at(window, view.aggregates, at)):
            if v is not MISSING:
                value[p] = v
                status[p] = PRESENT
                stamp[p] = row.event_ms


def _read_key(names: tuple[str, ...], values: list[Any], row: int) -> str:
    """The entity key of one row, its values checked as push checks them (text or an integer;
    an integral float names the same entity as the integer): anything else is an error, not a
    silent not_found."""
    for name, value in zip(names, values):
        kind = type(value)
        if kind is str or kind is int:  # the common cases cost one check
            continue
        if key_value(value, integral_floats=True) is None:
            raise DataValidationError(
                f"Entity row {row}: join key {name!r} must be a string or an integer, got "
                f"{value!r}.",
                key=name,
                row=row,
                value=repr(value),
            )
    return entity_key(values)


def _single_key_column(
    rows: EntityRows, join_keys: tuple[str, ...], n: int
) -> tuple[str, ...] | None:
    """The entity keys of a one-key view given as a column of text values (what
    :func:`entity_key` would make of each), else None (the general path checks and converts)."""
    if len(join_keys) != 1 or not isinstance(rows, Mapping):
        return None
    column = rows.get(join_keys[0])
    if column is None or len(column) != n or not all(type(v) is str for v in column):
        return None
    return tuple(column)


def _column_getter(columns: Mapping[str, Sequence[Any]], n: int) -> Any:
    for name, col in columns.items():
        if len(col) != n:
            raise DataValidationError(
                f"Entity column {name!r} has {len(col)} values, others have {n}.", column=name
            )

    def get(keys: tuple[str, ...], i: int) -> list[Any]:
        try:
            return [columns[k][i] for k in keys]
        except KeyError as exc:
            raise _missing_key(exc.args[0], list(columns), None) from None

    return get


def _row_getter(rows: Sequence[Mapping[str, Any]]) -> Any:
    def get(keys: tuple[str, ...], i: int) -> list[Any]:
        row = rows[i]
        try:
            return [row[k] for k in keys]
        except KeyError as exc:
            raise _missing_key(exc.args[0], list(row), i) from None
        except TypeError:
            raise DataValidationError(
                f"Entity row {i} must be a mapping of join keys to values, got "
                f"{type(row).__name__}.",
                row=i,
            ) from None

    return get


def _missing_key(key: str, present: list[str], row: int | None) -> DataValidationError:
    where = f"Entity row {row}" if row is not None else "The entity columns"
    return DataValidationError(
        f"{where} has no join key {key!r} (given: {', '.join(present) or 'nothing'}); the "
        "requested features need it.",
        key=key,
        row=row,
    )
