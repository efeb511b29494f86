"""Append-only event logs as Parquet files partitioned by key and date (the prediction log and
the feedback log), on any artifact-store URI (``file://`` or ``s3://``).

    log = EventLog("file:///srv/modelyard/logs")
    log.append("predictions", table, partition={"model": "fraud"})
    log.read("predictions", partition={"model": "fraud"}, start=..., end=...)

A file is written whole and never changed, so readers never see half a batch; the date partition
comes from the table's ``ts`` column (UTC). Layout:
``<root>/<dataset>/<key>=<value>/date=YYYY-MM-DD/part-<ns>-<id>.parquet``.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from modelyard.entities.predictions import TIME_COLUMN
from modelyard.errors import InvalidArgumentError
from modelyard.storage.artifacts import ArtifactStore, open_artifact_store

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc

__all__ = ["EventLog", "TimeLike"]

TimeLike = dt.datetime | dt.date | int | float | str
"""a datetime (naive means UTC), a date, epoch milliseconds, or an ISO-8601 string"""

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-@]{0,199}$")


def _check_segment(what: str, value: str) -> str:
    if not _SEGMENT.match(value):
        raise InvalidArgumentError(
            f"Invalid {what} {value!r} for an event-log path: use letters, digits and . _ - @ "
            "(no '/', '=' or spaces).",
            field=what,
            value=value,
        )
    return value


def to_utc(value: TimeLike) -> dt.datetime:
    """Any accepted time as an aware UTC datetime."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
    try:
        return to_utc(dt.datetime.fromisoformat(str(value)))
    except ValueError as exc:
        raise InvalidArgumentError(
            f"Invalid time {value!r}: use ISO-8601 (2026-01-31T12:00:00Z) or epoch milliseconds.",
            field="time",
            value=str(value),
        ) from exc


class EventLog:
    """Parquet event datasets under one root URI."""

    def __init__(self, uri: str, *, s3_endpoint_url: str = "") -> None:
        self.store: ArtifactStore = open_artifact_store(uri, s3_endpoint_url=s3_endpoint_url)

    @property
    def uri(self) -> str:
        return self.store.root

    # -- writing ------------------------------------------------------------------------------
    def append(
        self, dataset: str, table: pa.Table, *, partition: Mapping[str, str] | None = None
    ) -> list[str]:
        """Write ``table`` (which must have a ``ts`` column) as one new file per date; returns the
        paths written, relative to the root."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        if table.num_rows == 0:
            return []
        prefix = self._prefix(dataset, partition)
        table = _with_utc_time(table)
        days = pc.strftime(table.column(TIME_COLUMN), format="%Y-%m-%d")
        unique = pc.unique(days).to_pylist()
        written = []
        for day in unique:
            part = table if len(unique) == 1 else table.filter(pc.equal(days, day))
            sink = pa.BufferOutputStream()
            pq.write_table(part, sink, compression="zstd")
            name = f"part-{time.time_ns()}-{uuid.uuid4().hex[:8]}.parquet"
            path = f"{prefix}/date={day}/{name}"
            self.store.put_bytes(sink.getvalue().to_pybytes(), path)
            written.append(path)
        return written

    # -- reading ------------------------------------------------------------------------------
    def files(
        self,
        dataset: str,
        *,
        partition: Mapping[str, str] | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
    ) -> list[str]:
        """The files of ``dataset`` (relative to the root), oldest date first, that may hold rows
        in [start, end)."""
        prefix = self._prefix(dataset, partition)
        first = to_utc(start).date().isoformat() if start is not None else ""
        last = to_utc(end).date().isoformat() if end is not None else "9999-12-31"
        out = []
        for rel in self.store.list(prefix):
            date = _date_of(rel)
            if date is not None and first <= date <= last and rel.endswith(".parquet"):
                out.append(f"{prefix}/{rel}")
        return sorted(out, key=lambda p: (_date_of(p) or "", p.rsplit("/", 1)[-1]))

    def read(
        self,
        dataset: str,
        *,
        partition: Mapping[str, str] | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        columns: Sequence[str] | None = None,
        last: int | None = None,
        where: pc.Expression | None = None,
    ) -> pa.Table | None:
        """Rows with ``start <= ts < end`` (all when not given), in time order; ``last=N`` keeps
        only the newest N (reading newest files first). None when there is no row at all.

        ``where``: an Arrow expression the rows must also satisfy (``pc.field("variant") ==
        "shadow"``), applied before ``last`` counts them; the columns it names must be read.

        Files written with different columns are unified (a missing column reads as null; a
        column written as numbers in one file and as text in another reads as text)."""
        import pyarrow.compute as pc

        files = self.files(dataset, partition=partition, start=start, end=end)
        if last is not None:
            files = files[::-1]
        tables: list[pa.Table] = []
        rows = 0
        for rel in files:
            table = self._read_file(rel, columns)
            if table is None:
                continue
            table = _with_utc_time(table)
            mask = None
            if start is not None:
                mask = pc.greater_equal(table.column(TIME_COLUMN), _scalar(start))
            if end is not None:
                before = pc.less(table.column(TIME_COLUMN), _scalar(end))
                mask = before if mask is None else pc.and_(mask, before)
            if mask is not None:
                table = table.filter(mask)
            if where is not None:
                table = table.filter(where)
            if table.num_rows:
                tables.append(table)
                rows += table.num_rows
            if last is not None and rows >= last and _newer_dates_done(files, rel):
                break
        if not tables:
            return None
        merged = _concat(tables).sort_by(TIME_COLUMN)
        if last is not None and merged.num_rows > last:
            merged = merged.slice(merged.num_rows - last)
        return merged

    def keys(self, dataset: str, key: str) -> list[str]:
        """The values of partition ``key`` under ``dataset`` (e.g. every model with a log)."""
        marker = f"{key}="
        found = set()
        for rel in self.store.list(_check_segment("dataset", dataset)):
            first = rel.split("/", 1)[0]
            if first.startswith(marker):
                found.add(first[len(marker) :])
        return sorted(found)

    def check(self) -> str:
        self.store.check()
        return "writable" if self.store.is_local else "bucket reachable"

    # -- helpers ----------------------------------------------------------------------------
    def _prefix(self, dataset: str, partition: Mapping[str, str] | None) -> str:
        parts = [_check_segment("dataset", dataset)]
        for key, value in (partition or {}).items():
            parts.append(f"{_check_segment('partition key', key)}={_check_segment(key, value)}")
        return "/".join(parts)

    def _read_file(self, rel: str, columns: Sequence[str] | None) -> pa.Table | None:
        import pyarrow.parquet as pq

        local = self.store.local_path(rel)
        source: Any = str(local) if local is not None else self.store.open(rel)
        try:
            if columns is None:
                return pq.read_table(source)
            present = set(pq.read_schema(source).names)
            if local is None:
                source.seek(0)
            wanted = [c for c in dict.fromkeys([*columns, TIME_COLUMN]) if c in present]
            return pq.read_table(source, columns=wanted)
        except FileNotFoundError:  # removed between list and read
            return None
        finally:
            if local is None:
                source.close()


def _concat(tables: list[pa.Table]) -> pa.Table:
    import pyarrow as pa

    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        pass
    types: dict[str, set[pa.DataType]] = {}
    for table in tables:
        for field in table.schema:
            types.setdefault(field.name, set()).add(field.type)
    as_text = set()
    for name, kinds in types.items():
        try:
            pa.unify_schemas([pa.schema([(name, k)]) for k in kinds], promote_options="permissive")
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            as_text.add(name)
    fixed = []
    for table in tables:
        for name in as_text & set(table.column_names):
            index = table.column_names.index(name)
            table = table.set_column(index, name, table.column(name).cast(pa.string()))
        fixed.append(table)
    return pa.concat_tables(fixed, promote_options="permissive")


def _date_of(rel: str) -> str | None:
    for segment in rel.split("/"):
        if segment.startswith("date="):
            return segment[5:]
    return None


def _newer_dates_done(files_newest_first: list[str], current: str) -> bool:
    """Reading newest first, rows of an older date cannot be newer than those already read; the
    next file is of an older date, so N rows are enough."""
    index = files_newest_first.index(current)
    following = files_newest_first[index + 1 : index + 2]
    return not following or _date_of(following[0]) != _date_of(current)


def _with_utc_time(table: pa.Table) -> pa.Table:
    import pyarrow as pa

    if TIME_COLUMN not in table.column_names:
        raise InvalidArgumentError(
            f"An event-log table needs a {TIME_COLUMN!r} column (the event time); it has "
            f"{', '.join(table.column_names)}.",
            field=TIME_COLUMN,
        )
    column = table.column(TIME_COLUMN)
    want = pa.timestamp("ms", tz="UTC")
    if column.type == want:
        return table
    if pa.types.is_timestamp(column.type) and column.type.tz is None:
        column = column.cast(pa.timestamp("ms")).cast(want)
    elif pa.types.is_integer(column.type):
        column = column.cast(pa.int64()).cast(want)
    else:
        try:
            column = column.cast(want)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidArgumentError(
                f"Column {TIME_COLUMN!r} must hold timestamps or epoch milliseconds, not "
                f"{column.type}.",
                field=TIME_COLUMN,
            ) from exc
    return table.set_column(table.column_names.index(TIME_COLUMN), TIME_COLUMN, column)


def _scalar(value: TimeLike) -> pa.Scalar:
    import pyarrow as pa

    return pa.scalar(to_utc(value), type=pa.timestamp("ms", tz="UTC"))
