"""DuckDB SQL for the offline store: feature view relations, windowed aggregates, the
point-in-time join and the latest-value query. Pure string building: the store describes the
sources (column -> DuckDB type) and runs what these functions return.

Timestamps are normalized to ``TIMESTAMP`` (microseconds, UTC wall time): naive timestamps are
taken as UTC, zone-aware ones are converted to UTC (the connection runs with ``TimeZone=UTC``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from modelyard.entities import OfflineSource, ViewQuery
from modelyard.errors import DataValidationError, InvalidArgumentError, suggest

__all__ = [
    "DUCKDB_TYPES",
    "ident",
    "latest_values_sql",
    "literal",
    "point_in_time_sql",
    "source_sql",
    "timestamp_expr",
    "view_sql",
    "window_states_sql",
    "windows_at_sql",
]

DUCKDB_TYPES = {"int64": "BIGINT", "float64": "DOUBLE", "string": "VARCHAR", "bool": "BOOLEAN"}
_TS_OK = ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S")
_TS_CASTABLE = (*_TS_OK[1:], "DATE", "VARCHAR")
_COMPATIBLE = {
    "int64": ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT"),
    "float64": ("DOUBLE", "FLOAT", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "DECIMAL"),
    "string": ("VARCHAR",),
    "bool": ("BOOLEAN",),
}
_AGG_SQL = {"count": "COUNT(*)", "sum": "SUM", "mean": "AVG", "min": "MIN", "max": "MAX"}


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A quoted SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def timestamp_expr(column: str, dtype: str, where: str) -> str:
    """``column`` as a UTC ``TIMESTAMP``; a clear error when it is not a time at all."""
    base = dtype.upper()
    if base == "TIMESTAMP":
        return ident(column)
    if base in _TS_CASTABLE or base.startswith("TIMESTAMP"):
        return f"CAST({ident(column)} AS TIMESTAMP)"
    raise DataValidationError(
        f"Column {column!r} of {where} holds {dtype} values, not timestamps. Store event times "
        "as timestamps (or ISO-8601 strings), e.g. pandas datetime64 columns.",
        column=column,
        dtype=dtype,
    )


def _require(columns: Mapping[str, str], needed: Sequence[str], where: str) -> None:
    missing = [c for c in needed if c not in columns]
    if missing:
        name = missing[0]
        raise DataValidationError(
            f"{where} has no column {name!r}{suggest(name, list(columns))}. "
            f"Its columns: {', '.join(columns)}.",
            column=name,
            columns=list(columns),
        )


def _feature_expr(column: str, dtype: str, actual: str, where: str) -> str:
    target = DUCKDB_TYPES[dtype]
    base = actual.upper().split("(")[0]
    if base == target:
        return ident(column)
    if base not in _COMPATIBLE[dtype]:
        raise DataValidationError(
            f"Feature {column!r} of {where} is declared {dtype} but the data holds {actual}. "
            f"Declare the feature as the type the data has, or cast it in a query source.",
            column=column,
            declared=dtype,
            actual=actual,
        )
    return f"CAST({ident(column)} AS {target})"


def source_sql(source: OfflineSource, location: str | None) -> str:
    """The relation of one source; ``location`` is the resolved glob of a path or log source."""
    if source.query is not None:
        return f"({source.query})"
    assert location is not None
    if (source.format or "parquet") == "csv":
        relation = f"read_csv({literal(location)}, auto_detect=true, union_by_name=true)"
    else:
        relation = f"read_parquet({literal(location)}, union_by_name=true)"
    if source.dedupe_column:
        return f"(SELECT DISTINCT ON ({ident(source.dedupe_column)}) * FROM {relation})"
    return relation


def view_sql(
    view: ViewQuery,
    relations: Sequence[tuple[str, Mapping[str, str]]],
    columns: Mapping[str, str | None],
    *,
    max_ts: str | None = None,
    min_ts: str | None = None,
) -> str:
    """One view's rows: join keys, ``__ts`` (and ``__created``) and ``columns`` (cast to their
    declared types), the union of every source relation. ``relations`` pairs each source's SQL
    with its described columns; ``columns`` maps each value column to its declared dtype (None:
    keep the source's type). ``min_ts`` / ``max_ts`` (SQL timestamp expressions) bound the
    event times read."""
    if not relations:
        return _empty_view_sql(view, columns)
    parts = []
    for relation, described in relations:
        where = f"feature view {view.name!r} ({relation[:120]})"
        needed = [*view.join_keys, view.timestamp_field, *columns]
        if view.created_field:
            needed.append(view.created_field)
        _require(described, needed, where)
        ts = timestamp_expr(view.timestamp_field, described[view.timestamp_field], where)
        select = [ident(k) for k in view.join_keys]
        select.append(f"{ts} AS __ts")
        if view.created_field:
            created = timestamp_expr(view.created_field, described[view.created_field], where)
            select.append(f"{created} AS __created")
        select += [
            f"{_feature_expr(c, dtype, described[c], where)} AS {ident(c)}" if dtype else ident(c)
            for c, dtype in columns.items()
        ]
        conditions = [f"{ts} IS NOT NULL"]
        if max_ts is not None:
            conditions.append(f"{ts} <= {max_ts}")
        if min_ts is not None:
            conditions.append(f"{ts} >= {min_ts}")
        parts.append(f"SELECT {', '.join(select)} FROM {relation} WHERE {' AND '.join(conditions)}")
    return "\nUNION ALL BY NAME\n".join(parts)


def _empty_view_sql(view: ViewQuery, columns: Mapping[str, str | None]) -> str:
    select = [f"NULL AS {ident(k)}" for k in view.join_keys]  # untyped: compares with any key
    select.append("NULL::TIMESTAMP AS __ts")
    if view.created_field:
        select.append("NULL::TIMESTAMP AS __created")
    select += [f"NULL::{DUCKDB_TYPES[t or 'float64']} AS {ident(c)}" for c, t in columns.items()]
    return f"SELECT {', '.join(select)} WHERE false"


def windows_at_sql(view: ViewQuery, raw: str, probes: str) -> str:
    """Per probe row (``__row``, ``__ts`` and the join keys, from ``probes``): each requested
    aggregate of ``view`` over the same entity's events (``raw``) with times in
    ``[probe time - window, probe time]``, null when the entity is unknown at the probe time
    (no event at or before it, or none within the view's TTL before it).

    The probes are unioned into the events and every aggregate is a window function over a
    ``RANGE`` frame ending at the probe row (peers included: events at the probe's exact time
    count); probe rows hold no values, so they add nothing to any aggregate. One sort of events
    and probes per view, however many entity rows: no per-row work outside DuckDB."""
    keys = ", ".join(ident(k) for k in view.join_keys)
    wanted = {column for column, _ in view.outputs}
    windows: dict[int, str] = {}
    select = ["__row"]
    # known: an event at or before the probe, within the TTL (a window of its own, shared
    # with an aggregate of the same width: each distinct frame costs a pass)
    if view.ttl_ms:
        known = windows.setdefault(int(view.ttl_ms), f"__w{len(windows)}")
    else:
        known = f"(PARTITION BY {keys} ORDER BY __ts RANGE UNBOUNDED PRECEDING)"
    inner = ["__row", f"count(__event) OVER {known} > 0 AS __known"]
    for agg in view.aggregates:
        if agg.name not in wanted:
            continue
        name = windows.setdefault(agg.window_ms, f"__w{len(windows)}")
        if agg.function == "count":
            expr = "count(__event)"
        else:
            assert agg.column is not None
            expr = f"{_AGG_SQL[agg.function]}(CAST({ident(agg.column)} AS DOUBLE))"
        inner.append(f"{expr} OVER {name} AS {ident(agg.name)}")
        value = ident(agg.name)
        if agg.function == "sum":
            value = f"coalesce({value}, 0.0)"  # the sum of no values is 0
        select.append(f"CASE WHEN __known THEN {value} END AS {ident(agg.name)}")
    window_defs = ", ".join(
        f"{name} AS (PARTITION BY {keys} ORDER BY __ts RANGE BETWEEN "
        f"INTERVAL '{ms} milliseconds' PRECEDING AND CURRENT ROW)"
        for ms, name in windows.items()
    )
    present = " AND ".join(f"{ident(k)} IS NOT NULL" for k in view.join_keys)
    events = (  # an event without keys matches no entity row (as in an ASOF join)
        f"SELECT *, 1 AS __event, NULL::BIGINT AS __row FROM ({raw}) WHERE {present}"
    )
    stream = f"{events}\nUNION ALL BY NAME\nSELECT {keys}, __ts, __row FROM ({probes})"
    windowed = f"SELECT __ts, {', '.join(inner)} FROM ({stream})"
    if window_defs:
        windowed += f" WINDOW {window_defs}"
    return f"SELECT {', '.join(select)} FROM ({windowed}) WHERE __row IS NOT NULL"


def window_states_sql(view: ViewQuery, raw: str, start: str, end: str) -> str:
    """Per entity with an event in ``[start, end]``: ``__ts_ms``, its latest event time up to
    ``end``, and its events of the widest window before that (``__times``, ms ascending, and one
    list per aggregated column): what an online row of a windowed view holds. ``raw`` must hold
    the events from ``start`` minus the widest window on."""
    keys = ", ".join(ident(k) for k in view.join_keys)
    horizon = max(a.window_ms for a in view.aggregates)
    columns = sorted({a.column for a in view.aggregates if a.column is not None})
    lists = ["list(epoch_ms(__ts) ORDER BY __ts) AS __times"]
    lists += [f"list(CAST({ident(c)} AS DOUBLE) ORDER BY __ts) AS {ident(c)}" for c in columns]
    return (
        f"SELECT {keys}, epoch_ms(__last) AS __ts_ms, {', '.join(lists)} FROM ("
        f"SELECT *, max(__ts) OVER (PARTITION BY {keys}) AS __last FROM ({raw}) "
        f"WHERE __ts <= {end}) "
        f"WHERE __last >= {start} AND __ts >= __last - INTERVAL '{horizon} milliseconds' "
        f"GROUP BY {keys}, __last"
    )


def _ttl_guard(view_alias: str, ttl_ms: int | None) -> str | None:
    if not ttl_ms:
        return None
    return f"{view_alias}.__ts >= __e.__ets - INTERVAL '{int(ttl_ms)} milliseconds'"


def point_in_time_sql(
    entity_relation: str,
    entity_ts: str,
    views: Sequence[tuple[ViewQuery, str]],
) -> str:
    """Every entity row (``__row`` numbers them) with, per view, the feature values of the
    latest view row at or before the entity row's time and within the view's TTL; for a view
    with aggregates, the aggregates at the entity row's time (:func:`windows_at_sql`).

    ``views`` pairs each view with the SQL of its rows (from :func:`view_sql`; raw events for
    a view with aggregates). One ``ASOF LEFT JOIN`` per plain view, one join on ``__row`` per
    windowed view: every entity row is kept.
    """
    ctes = [f"__e AS (SELECT *, {entity_ts} AS __ets FROM {entity_relation})"]
    select = ["__e.* EXCLUDE (__ets)"]
    joins = []
    for i, (view, rows_sql) in enumerate(views):
        alias = f"__v{i}"
        if view.aggregates:
            keys = ", ".join(ident(k) for k in view.join_keys)
            probes = f"SELECT {keys}, __ets AS __ts, __row FROM __e"
            ctes.append(f"{alias} AS ({windows_at_sql(view, rows_sql, probes)})")
            for column, output in view.outputs:
                select.append(f"{alias}.{ident(column)} AS {ident(output)}")
            joins.append(f"LEFT JOIN {alias} ON __e.__row = {alias}.__row")
            continue
        wanted = list(dict.fromkeys(column for column, _ in view.outputs))
        cols = ", ".join([*(ident(k) for k in view.join_keys), "__ts", *map(ident, wanted)])
        if view.created_field:
            keys = ", ".join([*(ident(k) for k in view.join_keys), "__ts"])
            rows_sql = (
                f"SELECT * FROM ({rows_sql}) QUALIFY row_number() OVER "
                f"(PARTITION BY {keys} ORDER BY __created DESC NULLS LAST) = 1"
            )
        ctes.append(f"{alias} AS (SELECT {cols} FROM ({rows_sql}))")
        guard = _ttl_guard(alias, view.ttl_ms)
        for column, output in view.outputs:
            value = f"{alias}.{ident(column)}"
            expr = f"CASE WHEN {guard} THEN {value} END" if guard else value
            select.append(f"{expr} AS {ident(output)}")
        on = [f"__e.{ident(k)} = {alias}.{ident(k)}" for k in view.join_keys]
        on.append(f"__e.__ets >= {alias}.__ts")
        joins.append(f"ASOF LEFT JOIN {alias} ON {' AND '.join(on)}")
    return f"WITH {', '.join(ctes)}\nSELECT {', '.join(select)}\nFROM __e\n" + "\n".join(joins)


def latest_values_sql(view: ViewQuery, rows_sql: str, start: str, end: str) -> str:
    """Per entity, the latest row with an event time in ``[start, end]``; ``__ts_ms`` is the
    event time in milliseconds since the epoch."""
    keys = ", ".join(ident(k) for k in view.join_keys)
    order = "__ts DESC, __created DESC NULLS LAST" if view.created_field else "__ts DESC"
    columns = ", ".join(ident(c) for c in view.features)
    return (
        f"SELECT {keys}, epoch_ms(__ts) AS __ts_ms, {columns} FROM ({rows_sql}) "
        f"WHERE __ts >= {start} AND __ts <= {end} "
        f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {order}) = 1"
    )


def ms_literal(ms: int) -> str:
    """A millisecond epoch as a SQL ``TIMESTAMP`` expression."""
    if not isinstance(ms, int):
        raise InvalidArgumentError(f"Expected milliseconds since the epoch, got {ms!r}.")
    return f"make_timestamp({int(ms) * 1000})"
