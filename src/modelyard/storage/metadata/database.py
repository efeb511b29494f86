"""Engine, transactions and migrations for the SQL metadata store (SQLite and PostgreSQL).

SQLite runs in WAL mode with ``synchronous=NORMAL`` and a 30 s busy timeout. Write transactions
start with ``BEGIN IMMEDIATE`` so that several processes writing at once queue up on the lock
instead of failing with "database is locked" when a reader upgrades to a writer. PostgreSQL uses
row locks (``SELECT ... FOR UPDATE``) where a mutation reads before it writes.

The schema is migrated with Alembic on first connect. The fast path reads ``alembic_version``
directly and compares it with :data:`SCHEMA_HEAD`, so Alembic itself is imported only when a
migration is due.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from modelyard.entities import LineageNode, now_ms
from modelyard.errors import ConfigError, StoreUnavailableError
from modelyard.storage.metadata import schema

__all__ = ["SCHEMA_HEAD", "Database", "redact"]

SCHEMA_HEAD = "0003"
"""The newest Alembic revision; a test checks it matches the migrations directory."""

_MIGRATIONS = "modelyard.storage.metadata:migrations"


def redact(uri: str) -> str:
    """The URI with any password replaced by ``***``."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", uri)


def _driver_url(uri: str) -> str:
    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise ConfigError(
            f"Metadata URI {uri!r} has no scheme; use sqlite:///path or postgresql://..."
        )
    base = scheme.split("+", 1)[0]
    if base in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    if base == "sqlite":
        return f"sqlite://{rest}"
    return uri


def sqlite_file(uri: str) -> Path | None:
    """The file a ``sqlite:`` URI names; None for other schemes and in-memory databases."""
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme.split("+", 1)[0] != "sqlite":
        return None
    path = rest.removeprefix("/").split("?", 1)[0]
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path)


class Database:
    """One database: an engine, a write-transaction helper, upserts and the audit writer."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        url = _driver_url(uri)
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        if self.dialect == "sqlite":
            self._prepare_sqlite_path(url)
            self.engine = sa.create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 30}
            )
            _install_sqlite_pragmas(self.engine)
        else:
            try:
                import psycopg  # noqa: F401
            except ImportError as exc:
                from modelyard.errors import DependencyMissingError

                raise DependencyMissingError.for_extra("psycopg", "postgres") from exc
            self.engine = sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        self._write_engine = self.engine.execution_options(modelyard_write=True)
        self._pid = os.getpid()
        self._upserts: dict[Any, Any] = {}
        self._local = threading.local()
        try:
            self.ensure_schema()
        except sa.exc.DBAPIError as exc:  # the first connection: any failure means unusable
            raise StoreUnavailableError(
                self.unreachable_message(exc), uri=redact(self.uri)
            ) from exc

    # -- connections ------------------------------------------------------------------------
    def _prepare_sqlite_path(self, url: str) -> None:
        path = sqlite_file(url)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailableError(
                    f"Cannot create the directory of the metadata database {path!r}: "
                    f"{exc.strerror}. Point MODELYARD_METADATA_URI (or MODELYARD_HOME) at a "
                    "writable location.",
                    uri=redact(self.uri),
                ) from exc

    def _check_fork(self) -> None:
        # A forked child must not reuse the parent's sockets / file handles.
        if os.getpid() != self._pid:
            self.engine.dispose(close=False)
            self._pid = os.getpid()

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (BEGIN IMMEDIATE on SQLite), committed on success."""
        self._check_fork()
        with self._unavailable_as_error(), self._write_engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def raw_write(self) -> Iterator[Any]:
        """A write transaction on a bare DBAPI cursor, for hot paths (metric logging) where
        SQLAlchemy's per-transaction machinery costs more than the database work itself.

        SQLite: a connection kept per thread (and per process), ``BEGIN IMMEDIATE`` ... ``COMMIT``;
        it does not check foreign keys, so callers check the parent row themselves.
        PostgreSQL: a pooled connection (pre-pinged), committed or rolled back here."""
        self._check_fork()
        with self._unavailable_as_error():
            if self.dialect != "sqlite":
                conn = self.engine.raw_connection()
                try:
                    cursor = conn.cursor()
                    try:
                        yield cursor
                        conn.commit()
                    except BaseException:
                        conn.rollback()
                        raise
                    finally:
                        cursor.close()
                finally:
                    conn.close()
                return
            dbapi = self._thread_sqlite()
            cursor = dbapi.cursor()
            try:
                cursor.execute("BEGIN IMMEDIATE")
                yield cursor
                cursor.execute("COMMIT")
            except BaseException:
                # A Ctrl-C may land before BEGIN or after COMMIT: roll back only what is open.
                if dbapi.in_transaction:
                    dbapi.rollback()
                raise
            finally:
                cursor.close()

    def _thread_sqlite(self) -> Any:
        held = getattr(self._local, "conn", None)
        if held is None or held[0] != self._pid:
            # Detached from the pool: this thread keeps it (closed when the thread ends).
            fairy = self.engine.raw_connection()
            fairy.detach()
            dbapi: Any = fairy.dbapi_connection
            # Its callers check their parent row once per transaction (a per-row foreign-key
            # lookup was a fifth of a batched metric insert).
            dbapi.execute("PRAGMA foreign_keys=OFF")
            held = (self._pid, dbapi)
            self._local.conn = held
        return held[1]

    def xact_lock(self, conn: Connection, key: str) -> None:
        """Hold the lock named ``key`` until ``conn``'s transaction ends: a transaction-scoped
        advisory lock on PostgreSQL; nothing on SQLite, whose write lock serializes writers."""
        if self.dialect == "postgresql":
            number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:7], "big")
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": number})

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        self._check_fork()
        with self._unavailable_as_error(), self.engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def _unavailable_as_error(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            # sa.exc.OperationalError, or the driver's own from raw_write()
            operational = type(exc).__name__ == "OperationalError"
            if operational and _is_connection_failure(exc):
                raise StoreUnavailableError(
                    self.unreachable_message(exc), uri=redact(self.uri)
                ) from exc
            raise

    def unreachable_message(self, exc: BaseException) -> str:
        orig = getattr(exc, "orig", exc)
        first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        if self.dialect == "postgresql" and "does not exist" in first:
            database = self.engine.url.database
            fix = (
                f"Create it (`createdb {database}`) or point MODELYARD_METADATA_URI at another one."
            )
        elif self.dialect == "postgresql":
            fix = (
                "Start PostgreSQL (e.g. `pg_ctlcluster <version> main start`) or point "
                "MODELYARD_METADATA_URI at a reachable server."
            )
        elif "not a database" in first:
            fix = (
                "That file is not a SQLite database: point MODELYARD_METADATA_URI at another path."
            )
        else:
            fix = "Check that the directory exists and is writable, or set MODELYARD_METADATA_URI."
        return f"Cannot reach the metadata database {redact(self.uri)}: {first}. {fix}"

    def dispose(self) -> None:
        """Close the pool and this thread's metric-writing connection (other threads' close when
        their thread ends)."""
        held = getattr(self._local, "conn", None)
        if held is not None:
            self._local.conn = None
            if held[0] == os.getpid():
                held[1].close()
        self.engine.dispose()

    # -- schema -----------------------------------------------------------------------------
    def current_revision(self) -> str | None:
        with self.read() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

    def ensure_schema(self) -> None:
        """Apply pending migrations, once, even when several processes start together."""
        if self.current_revision() == SCHEMA_HEAD:
            return
        with self._migration_lock() as conn:
            from alembic import command
            from alembic.config import Config

            cfg = Config()
            cfg.set_main_option("script_location", _MIGRATIONS)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[Connection]:
        if self.dialect == "postgresql":
            key = int.from_bytes(hashlib.sha256(b"modelyard-migrate").digest()[:7], "big")
            with self.read() as conn:
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
                conn.commit()
                try:
                    yield conn
                    conn.commit()
                finally:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
        else:
            from filelock import FileLock

            db_path = self.engine.url.database or ""
            lock_path = f"{db_path}.migrate.lock" if db_path and db_path != ":memory:" else None
            lock = FileLock(lock_path) if lock_path else contextlib.nullcontext()
            with lock, self.read() as conn:
                yield conn
                conn.commit()

    # -- helpers shared by the sub-stores ---------------------------------------------------
    def upsert(
        self,
        conn: Connection,
        table: sa.Table,
        rows: Sequence[Mapping[str, Any]],
        keys: Sequence[str],
        update: Sequence[str],
        where: Any = None,
    ) -> None:
        """INSERT ... ON CONFLICT (keys) DO UPDATE SET update (optionally only WHERE ...)."""
        if not rows:
            return
        cache_key = (table.name, tuple(keys), tuple(update), where)
        stmt = self._upserts.get(cache_key)
        if stmt is None:
            stmt = self._upsert_statement(table, keys, update, where)
            self._upserts[cache_key] = stmt
        conn.execute(stmt, list(rows))

    def insert_if_absent(
        self, conn: Connection, table: sa.Table, row: Mapping[str, Any], keys: Sequence[str]
    ) -> bool:
        """INSERT ... ON CONFLICT DO NOTHING for one row; True when the row was inserted.

        Unlike SELECT-then-INSERT this is safe when two transactions create the same row at once
        (PostgreSQL's SELECT ... FOR UPDATE cannot lock a row that does not exist yet)."""
        cache_key = (table.name, tuple(keys), (), "returning")
        stmt = self._upserts.get(cache_key)
        if stmt is None:  # RETURNING yields a row only when one was inserted (rowcount is -1
            # for this statement on psycopg)
            stmt = self._upsert_statement(table, keys, (), None).returning(table.c[keys[0]])
            self._upserts[cache_key] = stmt
        return conn.execute(stmt, dict(row)).first() is not None

    def add_edge(
        self,
        conn: Connection,
        source: LineageNode,
        target: LineageNode,
        relation: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a lineage edge inside the caller's transaction (idempotent)."""
        self.upsert(
            conn,
            schema.lineage_edges,
            [
                {
                    "source_kind": source.kind,
                    "source_id": source.id,
                    "target_kind": target.kind,
                    "target_id": target.id,
                    "relation": relation,
                    "timestamp": now_ms(),
                    "details": json.loads(json.dumps(details or {}, default=str)),
                }
            ],
            keys=["source_kind", "source_id", "target_kind", "target_id", "relation"],
            update=[],
        )

    def _upsert_statement(
        self, table: sa.Table, keys: Sequence[str], update: Sequence[str], where: Any
    ) -> Any:
        insert: Any
        if self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        stmt = insert(table)
        set_ = {c: stmt.excluded[c] for c in update}
        if set_:
            return stmt.on_conflict_do_update(
                index_elements=list(keys),
                set_=set_,
                where=where(table, stmt.excluded) if where is not None else None,
            )
        return stmt.on_conflict_do_nothing(index_elements=list(keys))

    @staticmethod
    def audit(
        conn: Connection,
        actor: str,
        action: str,
        object_type: str,
        object_id: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Write an audit event inside the caller's transaction."""
        conn.execute(
            schema.audit_events.insert().values(
                timestamp=now_ms(),
                actor=actor,
                action=action,
                object_type=object_type,
                object_id=object_id,
                details=json.loads(json.dumps(details or {}, default=str)),
            )
        )


def _is_connection_failure(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    text = str(orig).lower() if orig is not None else str(exc).lower()
    needles = (
        "connection",
        "could not connect",
        "unable to open database",
        "server closed",
        "timeout expired",
        "no such host",
        "name or service not known",
        "connect",
        "database .* does not exist",
    )
    return any(re.search(n, text) for n in needles)


def _install_sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so BEGIN is ours to issue.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=30000")  # first: switching to WAL may wait for a lock
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA case_sensitive_like=ON")  # LIKE as in PostgreSQL; ILIKE ignores case
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("modelyard_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
