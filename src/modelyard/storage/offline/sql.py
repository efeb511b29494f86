"""DuckDB SQL for the offline store: feature view relations, windowed aggregates, the
point-in-time join and the latest-value query. Pure string building: the store describes the
sources (column -> DuckDB type) and runs what these functions return.

Timestamps are normalized to ``TIMESTAMP`` (microseconds, UTC wall time): naive timestamps are
taken as UTC, zone-aware ones are converted to UTC (the connection runs with ``TimeZone=UTC``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from modelyard.entities import OfflineSource, ViewQuery, WindowAggregate
from modelyard.errors import DataValidationError, InvalidArgumentError, suggest

__all__ = [
    "DUCKDB_TYPES",
    "aggregate_sql",
    "ident",
    "latest_values_sql",
    "literal",
    "point_in_time_sql",
    "source_sql",
    "timestamp_expr",
    "view_sql",
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


def aggregate_sql(view: ViewQuery, raw: str, aggregates: Sequence[WindowAggregate]) -> str:
    """One row per raw event with each aggregate over the entity's events in
    ``[ts - window, ts]`` (events at the same instant all count: RANGE frames include peers)."""
    keys = ", ".join(ident(k) for k in view.join_keys)
    windows: dict[int, str] = {}
    select = [keys, "__ts"]
    for agg in aggregates:
        name = windows.setdefault(agg.window_ms, f"__w{len(windows)}")
        if agg.function == "count":
            expr = "COUNT(*)"
        else:
            assert agg.column is not None
            expr = f"{_AGG_SQL[agg.function]}(CAST({ident(agg.column)} AS DOUBLE))"
        select.append(f"{expr} OVER {name} AS {ident(agg.name)}")
    window_defs = ", ".join(
        f"{name} AS (PARTITION BY {keys} ORDER BY __ts RANGE BETWEEN "
        f"INTERVAL '{ms} milliseconds' PRECEDING AND CURRENT ROW)"
        for ms, name in windows.items()
    )
    return f"SELECT {', '.join(select)} FROM ({raw}) WINDOW {window_defs}"


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
    latest view row at or before the entity row's time and within the view's TTL.

    ``views`` pairs each view with the SQL of its rows (from :func:`view_sql` /
    :func:`aggregate_sql`). One ``ASOF LEFT JOIN`` per view keeps every entity row.
    """
    ctes = [f"__e AS (SELECT *, {entity_ts} AS __ets FROM {entity_relation})"]
    select = ["__e.* EXCLUDE (__ets)"]
    joins = []
    for i, (view, rows_sql) in enumerate(views):
        alias = f"__v{i}"
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
