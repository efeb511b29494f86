"""The default offline store: DuckDB (in-process) over Parquet / CSV files on local disk or any
fsspec filesystem (S3 included), so nothing is downloaded at run time (no DuckDB extensions:
remote files are read through fsspec filesystems registered with DuckDB).

Point-in-time joins are DuckDB ``ASOF LEFT JOIN`` s; DuckDB spills to ``temp_directory`` when a
join does not fit in ``memory_limit``. Logs (pushed rows, streamed events) are Parquet files
under ``<root>/logs/<log>/``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.entities import OfflineSource, ViewQuery
from modelyard.errors import (
    DataValidationError,
    DependencyMissingError,
    InvalidArgumentError,
    NotFoundError,
    StoreUnavailableError,
)
from modelyard.storage.offline import sql
from modelyard.storage.offline.base import EntityInput, OfflineStore
from modelyard.storage.schemes import validate_options

__all__ = ["DuckDBOfflineOptions", "DuckDBOfflineStore"]

_CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt")
_NUMERIC = ("INT", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "INTEGER")

_NO_SOURCE = (
    "The source of {what} does not exist: no file matches {path}. Check the path (relative "
    "paths are resolved against the definition file's directory when it is applied) or write "
    "the data first."
)
_NO_SOURCE_FILE = (
    "The source {path} does not exist: no file matches it. Check the path (relative paths are "
    "resolved against the definition file's directory when it is applied) or write the data "
    "first."
)
_NO_ENTITY_FILE = (
    "The entity file {path} does not exist: no file matches it. Check the path (a relative path "
    "is resolved against the current directory, {cwd})."
)


class DuckDBOfflineOptions(BaseModel):
    """Options of the DuckDB offline store (query parameters of its URI)."""

    model_config = ConfigDict(extra="forbid")

    root: str = Field(description="local directory or fsspec URI (s3://bucket/prefix)")
    memory_limit: str | None = Field(None, description="DuckDB memory limit, e.g. '4GB'")
    threads: int | None = Field(None, ge=1)
    temp_directory: str | None = Field(None, description="where DuckDB spills (local)")
    s3_endpoint_url: str = ""

    @classmethod
    def from_uri(cls, uri: str, **extra: Any) -> DuckDBOfflineOptions:
        """``duckdb:///dir?memory_limit=4GB``, ``s3://bucket/prefix``, ``file:///dir``."""
        scheme, _, rest = uri.partition("://")
        rest, _, query = rest.partition("?")
        params: dict[str, Any] = dict(urllib.parse.parse_qsl(query))
        if scheme in ("duckdb", "file"):
            root = rest if rest.startswith("/") else str(Path(rest).resolve())
        else:
            root = f"{scheme}://{rest}"
        root = root.rstrip("/") or "/"
        return validate_options(cls, uri, "offline store", root=root, **params, **extra)


def _scheme(path: str) -> str:
    return path.partition("://")[0].lower() if "://" in path else "file"


def _infer_format(path: str) -> str:
    return "csv" if path.lower().rstrip("*/").endswith(_CSV_SUFFIXES) else "parquet"


class DuckDBOfflineStore(OfflineStore):
    """Offline feature data queried by an in-process DuckDB."""

    def __init__(self, uri: str, **options: Any) -> None:
        self.uri = uri
        self.options = DuckDBOfflineOptions.from_uri(uri, **options)
        self.root = self.options.root
        self._con: Any = None
        self._lock = threading.Lock()
        self._filesystems: dict[str, Any] = {}

    # -- connection -------------------------------------------------------------------------
    def _connection(self) -> Any:
        if self._con is None:
            with self._lock:
                if self._con is None:
                    self._con = self._connect()
        return self._con

    def _connect(self) -> Any:
        import duckdb

        con = duckdb.connect(":memory:")
        con.execute("SET autoinstall_known_extensions=false")
        con.execute("SET autoload_known_extensions=false")
        con.execute("SET TimeZone='UTC'")
        temp = self.options.temp_directory or (
            os.path.join(self.root, ".tmp")
            if _scheme(self.root) == "file"
            else os.path.join(tempfile.gettempdir(), "modelyard-duckdb")
        )
        con.execute(f"SET temp_directory={sql.literal(temp)}")
        if self.options.memory_limit:
            con.execute(f"SET memory_limit={sql.literal(self.options.memory_limit)}")
        if self.options.threads:
            con.execute(f"SET threads={int(self.options.threads)}")
        return con

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Any]:
        cur = self._connection().cursor()
        try:
            yield cur
        finally:
            cur.close()

    def _fs(self, scheme: str) -> Any:
        """The fsspec filesystem for a scheme, registered with DuckDB (no httpfs needed)."""
        fs = self._filesystems.get(scheme)
        if fs is None:
            import fsspec

            opts: dict[str, Any] = {}
            if scheme == "s3" and self.options.s3_endpoint_url:
                opts["endpoint_url"] = self.options.s3_endpoint_url
            try:
                fs = fsspec.filesystem(scheme, **opts)
            except ImportError as exc:
                raise DependencyMissingError.for_extra("s3fs", "s3") from exc
            if scheme != "file":
                self._connection().register_filesystem(fs)
            self._filesystems[scheme] = fs
        return fs

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    # -- locations --------------------------------------------------------------------------
    def _glob(self, pattern: str) -> list[str]:
        scheme = _scheme(pattern)
        if scheme == "file":
            import glob

            local = pattern.removeprefix("file://")
            return sorted(glob.glob(local, recursive=True))
        return sorted(self._fs(scheme).glob(pattern))

    def _is_dir(self, path: str) -> bool:
        scheme = _scheme(path)
        if scheme == "file":
            return os.path.isdir(path.removeprefix("file://"))
        return bool(self._fs(scheme).isdir(path))

    def _location(self, source: OfflineSource, what: str, missing: str = _NO_SOURCE) -> str | None:
        """The glob DuckDB reads for a path or log source (None: an empty log); ``missing``:
        the error when no file matches (``{what}``, ``{path}`` filled in)."""
        if source.log is not None:
            return self._log_glob(source.log) if self.has_log(source.log) else None
        assert source.path is not None
        path = source.path.removeprefix("file://")
        fmt = source.format or _infer_format(path)
        pattern = path
        if not any(ch in path for ch in "*?[") and self._is_dir(path):
            pattern = f"{path.rstrip('/')}/**/*.{'csv' if fmt == 'csv' else 'parquet'}"
        if not self._glob(pattern):
            raise NotFoundError(
                missing.format(what=what, path=repr(source.path), cwd=os.getcwd()),
                path=source.path,
            )
        return pattern

    def _log_dir(self, log: str) -> str:
        if "/" in log or log.startswith("."):
            raise InvalidArgumentError(f"Invalid log name {log!r}.", log=log)
        return f"{self.root}/logs/{log}"

    def _log_glob(self, log: str) -> str:
        return f"{self._log_dir(log)}/*.parquet"

    def has_log(self, log: str) -> bool:
        return bool(self._glob(self._log_glob(log)))

    # -- describing -------------------------------------------------------------------------
    def _relation(self, source: OfflineSource, what: str, missing: str = _NO_SOURCE) -> str | None:
        location = None if source.query is not None else self._location(source, what, missing)
        if location is None and source.query is None:
            return None
        fmt = source.format or (_infer_format(location) if location else None)
        resolved = OfflineSource(
            path=source.path,
            query=source.query,
            format=fmt,
            log=source.log,
            dedupe_column=source.dedupe_column,
        )
        return sql.source_sql(resolved, location)

    def _describe(self, cur: Any, relation: str, what: str) -> dict[str, str]:
        rows = self._run(cur, f"DESCRIBE SELECT * FROM {relation}", what).fetchall()
        return {str(r[0]): str(r[1]) for r in rows}

    def describe_source(self, source: OfflineSource) -> dict[str, str]:
        what = f"source {source.describe()!r}"
        with self._cursor() as cur:
            relation = self._relation(source, what, _NO_SOURCE_FILE)
            if relation is None:
                return {}
            return self._describe(cur, relation, what)

    def describe_entity_file(self, path: str) -> dict[str, str]:
        with self._cursor() as cur:
            return self._describe(cur, self._entity_file(path), f"the entity file {path!r}")

    def _entity_file(self, path: str) -> str:
        """The relation DuckDB reads for a Parquet / CSV file of entity rows."""
        source = OfflineSource(path=path, format=_infer_format(path))
        relation = self._relation(source, f"the entity file {path!r}", _NO_ENTITY_FILE)
        assert relation is not None
        return relation

    def _run(self, cur: Any, query: str, what: str) -> Any:
        import duckdb

        try:
            return cur.sql(query)
        except duckdb.IOException as exc:
            raise NotFoundError(f"Cannot read {what}: {_first_line(exc)}", query=query) from exc
        except duckdb.Error as exc:
            raise DataValidationError(
                f"Reading {what} failed: {_first_line(exc)}", query=query
            ) from exc

    def _fetch(self, relation: Any, what: str) -> Any:
        import duckdb

        try:
            to_table = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
            return to_table()
        except duckdb.Error as exc:
            raise DataValidationError(f"{what} failed: {_first_line(exc)}") from exc

    # -- the view's rows --------------------------------------------------------------------
    def _rows_sql(
        self,
        cur: Any,
        view: ViewQuery,
        columns: Sequence[str],
        *,
        min_ts: str | None = None,
        max_ts: str | None = None,
    ) -> str:
        """The view's rows (its raw events when it has aggregates: from ``min_ts`` minus the
        widest window on, so every window ending at ``min_ts`` or later is complete)."""
        what = f"feature view {view.name!r}"
        relations = []
        for source in view.sources:
            relation = self._relation(source, what)
            if relation is not None:
                relations.append((relation, self._describe(cur, relation, what)))
        if not view.aggregates:
            wanted = {c: view.features[c] for c in columns}
            return sql.view_sql(view, relations, wanted, min_ts=min_ts, max_ts=max_ts)
        raw_columns: dict[str, str | None] = {
            a.column: None for a in view.aggregates if a.column is not None
        }
        if min_ts is not None:
            widest = max(a.window_ms for a in view.aggregates)
            min_ts = f"({min_ts} - INTERVAL '{widest} milliseconds')"
        return sql.view_sql(view, relations, raw_columns, min_ts=min_ts, max_ts=max_ts)

    # -- point-in-time join -----------------------------------------------------------------
    def get_historical_features(
        self,
        entities: EntityInput,
        timestamp_column: str,
        views: Sequence[ViewQuery],
        *,
        output: str | None = None,
    ) -> Any:
        with self._cursor() as cur:
            relation, n_rows = self._entity_relation(cur, entities)
            described = self._describe(cur, relation, "the entity rows")
            _check_entity_columns(described, timestamp_column, views)
            self._check_times_present(cur, entities, relation, timestamp_column, n_rows)
            ts = _entity_times(timestamp_column, described[timestamp_column], n_rows)
            joined = [
                (view, self._rows_sql(cur, view, [c for c, _ in view.outputs])) for view in views
            ]
            self._check_key_types(cur, described, joined)
            query = sql.point_in_time_sql(relation, ts, joined)
            if output is not None:
                return self._copy_ordered(cur, query, output)
            table = self._fetch(self._run(cur, query, "the point-in-time join"), "The join")
            return _restore_order(table)

    def _entity_relation(self, cur: Any, entities: EntityInput) -> tuple[str, int | None]:
        import numpy as np
        import pyarrow as pa

        if isinstance(entities, pa.Table):
            name = f"__entities_{uuid.uuid4().hex}"
            table = entities.append_column("__row", pa.array(np.arange(entities.num_rows)))
            cur.register(name, table)
            return sql.ident(name), entities.num_rows
        relation = self._entity_file(str(entities))
        return f"(SELECT *, row_number() OVER () - 1 AS __row FROM {relation})", None

    def _check_times_present(
        self, cur: Any, entities: EntityInput, relation: str, column: str, n_rows: int | None
    ) -> None:
        nulls = _null_count(entities, column)
        if nulls is None:  # a file: count with DuckDB
            query = f"SELECT count(*) FILTER (WHERE {sql.ident(column)} IS NULL) FROM {relation}"
            nulls = self._run(cur, query, "entity rows").fetchall()[0][0]
        if nulls:
            raise DataValidationError(
                f"{nulls} of {n_rows if n_rows is not None else 'the'} entity rows have no "
                f"timestamp in {column!r}; every row needs the time its features are wanted for.",
                column=column,
                null_rows=int(nulls),
            )

    def _check_key_types(
        self, cur: Any, entity_types: Mapping[str, str], joined: Sequence[tuple[ViewQuery, str]]
    ) -> None:
        for view, rows_sql in joined:
            view_types = self._describe(cur, f"({rows_sql})", f"feature view {view.name!r}")
            for key in view.join_keys:
                left, right = entity_types[key], view_types.get(key, "NULL")
                if right != "NULL" and _key_family(left) != _key_family(right):
                    raise DataValidationError(
                        f"Join key {key!r} is {left} in the entity rows but {right} in feature "
                        f"view {view.name!r}; convert one side so both hold the same type.",
                        key=key,
                        entity_type=left,
                        view_type=right,
                    )

    def _copy_ordered(self, cur: Any, query: str, output: str) -> int:
        scheme = _scheme(output)
        if scheme != "file":
            self._fs(scheme)
        else:
            Path(output).parent.mkdir(parents=True, exist_ok=True)
        self._run(
            cur,
            f"COPY (SELECT * EXCLUDE (__row) FROM ({query}) ORDER BY __row) "
            f"TO {sql.literal(output)} (FORMAT parquet)",
            "the point-in-time join",
        )
        counted = self._run(
            cur, f"SELECT count(*) FROM read_parquet({sql.literal(output)})", output
        )
        return int(counted.fetchall()[0][0])

    # -- latest values, samples -------------------------------------------------------------
    def latest_values(
        self, view: ViewQuery, start_ms: int, end_ms: int, batch_rows: int = 10_000
    ) -> Iterator[Any]:
        start, end = sql.ms_literal(start_ms), sql.ms_literal(end_ms)
        with self._cursor() as cur:
            rows = self._rows_sql(cur, view, list(view.features), min_ts=start, max_ts=end)
            if view.aggregates:
                query = sql.window_states_sql(view, rows, start, end)
            else:
                query = sql.latest_values_sql(view, rows, start, end)
            relation = self._run(cur, query, f"feature view {view.name!r}")
            to_reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_record_batch
            yield from to_reader(batch_rows)

    def sample_keys(self, view: ViewQuery, n: int, at_ms: int, seed: int = 0) -> Any:
        keys = ", ".join(sql.ident(k) for k in view.join_keys)
        with self._cursor() as cur:
            rows = self._rows_sql(cur, view, [], max_ts=sql.ms_literal(at_ms))
            query = (
                f"SELECT * FROM (SELECT DISTINCT {keys} FROM ({rows})) "
                f"USING SAMPLE reservoir({int(n)} ROWS) REPEATABLE ({int(seed)})"
            )
            return self._fetch(self._run(cur, query, f"feature view {view.name!r}"), "Sampling")

    # -- logs -------------------------------------------------------------------------------
    def append_log(self, log: str, table: Any, name: str | None = None) -> str:
        import pyarrow.parquet as pq

        directory = self._log_dir(log)
        path = f"{directory}/{name or uuid.uuid4().hex}.parquet"
        scheme = _scheme(path)
        if scheme == "file":
            os.makedirs(directory, exist_ok=True)
            tmp = f"{path}.{uuid.uuid4().hex}.tmp"
            pq.write_table(table, tmp)
            os.replace(tmp, path)  # readers never see a half-written file
        else:
            with self._fs(scheme).open(path, "wb") as fh:  # an object store PUT is atomic
                pq.write_table(table, fh)
        return path

    # -- health -----------------------------------------------------------------------------
    def check(self) -> str:
        import duckdb

        scheme = _scheme(self.root)
        try:
            if scheme == "file":
                os.makedirs(self.root, exist_ok=True)
                probe = Path(self.root) / f".probe-{uuid.uuid4().hex}"
                probe.write_bytes(b"ok")
                probe.unlink()
            else:
                fs = self._fs(scheme)
                bucket = self.root.partition("://")[2].split("/", 1)[0]
                if not fs.exists(bucket):
                    raise NotFoundError(f"Bucket {bucket!r} does not exist.", root=self.root)
            with self._cursor() as cur:
                cur.sql("SELECT 42").fetchall()
        except OSError as exc:
            raise StoreUnavailableError(
                f"Offline store {self.root} is not usable: {exc}", root=self.root
            ) from exc
        return f"DuckDB {duckdb.__version__}, {'writable' if scheme == 'file' else 'reachable'}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _key_family(duck_type: str) -> str:
    base = duck_type.upper()
    if base in _NUMERIC or base.startswith(("INT", "UINT", "BIGINT", "SMALLINT", "TINYINT")):
        return "integer"
    if base == "VARCHAR":
        return "string"
    return base


def _check_entity_columns(
    described: Mapping[str, str], timestamp_column: str, views: Sequence[ViewQuery]
) -> None:
    needed = list(dict.fromkeys([timestamp_column, *(k for v in views for k in v.join_keys)]))
    missing = [c for c in needed if c not in described]
    if missing:
        for_views = sorted(v.name for v in views if set(v.join_keys) & set(missing))
        raise DataValidationError(
            f"The entity rows have no column {missing[0]!r} (needed: "
            f"{', '.join(repr(c) for c in needed)}"
            + (f"; join key of {', '.join(for_views)}" if for_views else "; the event time")
            + f"). Their columns: {', '.join(c for c in described if c != '__row')}.",
            missing=missing,
            columns=list(described),
        )


def _null_count(entities: EntityInput, column: str) -> int | None:
    import pyarrow as pa

    if isinstance(entities, pa.Table) and column in entities.column_names:
        return int(entities.column(column).null_count)
    return None


def _entity_times(column: str, dtype: str, n_rows: int | None) -> str:
    """The entity rows' time column as a timestamp; an empty frame (whose columns pandas types
    as it likes) is reported as empty, not as holding the wrong type."""
    try:
        return sql.timestamp_expr(column, dtype, "entity rows")
    except DataValidationError:
        if n_rows != 0:
            raise
        raise DataValidationError(
            f"The entity frame is empty (0 rows), so its time column {column!r} holds no times "
            f"(it was typed {dtype}); pass at least one entity row.",
            column=column,
            rows=0,
        ) from None


def _restore_order(table: Any) -> Any:
    """Put the joined rows back in the order of the entity rows (``__row``), in O(n)."""
    import numpy as np

    if table.num_rows == 0:
        return table.drop_columns(["__row"])
    rows = table.column("__row").to_numpy()
    if bool((rows[1:] > rows[:-1]).all()) and rows[0] == 0:
        return table.drop_columns(["__row"])
    position = np.empty(len(rows), dtype=np.int64)
    position[rows] = np.arange(len(rows))
    return table.drop_columns(["__row"]).take(position)
