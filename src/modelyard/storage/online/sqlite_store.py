"""The default online store: one SQLite file, read in-process.

One row per (view, entity key) holds the event time and a JSON object of the view's values.
Reads use the ``sqlite3`` module directly (its statement cache makes them prepared statements):
one ``SELECT`` per view, by primary key. Each thread (and each forked process) gets its own
connection; WAL mode lets reads run while a materialization writes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from modelyard.entities import OnlineRead, OnlineRow
from modelyard.errors import StoreUnavailableError
from modelyard.storage.online.base import (
    OnlineStore,
    RowInput,
    StateUpdate,
    decode_document,
    field_picker,
)
from modelyard.storage.schemes import validate_options

__all__ = ["SqliteOnlineOptions", "SqliteOnlineStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS online_features (
    view TEXT NOT NULL, entity_key TEXT NOT NULL, event_ms INTEGER NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (view, entity_key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stream_state (
    view TEXT NOT NULL, entity_key TEXT NOT NULL, state TEXT NOT NULL,
    PRIMARY KEY (view, entity_key)) WITHOUT ROWID;
"""
_UPSERT = (
    "INSERT INTO online_features (view, entity_key, event_ms, payload) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (view, entity_key) DO UPDATE SET event_ms = excluded.event_ms, "
    "payload = excluded.payload WHERE excluded.event_ms >= online_features.event_ms"
)
_READ_ONE = (
    "SELECT entity_key, event_ms, payload FROM online_features WHERE view = ? AND entity_key = ?"
)
_CHUNK = 500


class SqliteOnlineOptions(BaseModel):
    """Options of the SQLite online store (query parameters of its URI)."""

    model_config = ConfigDict(extra="forbid")

    path: str
    busy_timeout_s: float = Field(30.0, gt=0)
    synchronous: str = Field("NORMAL", pattern="^(OFF|NORMAL|FULL)$")

    @classmethod
    def from_uri(cls, uri: str) -> SqliteOnlineOptions:
        rest = uri.partition("://")[2]
        path, _, query = rest.partition("?")
        path = path[1:] if path.startswith("/") else path  # sqlite:///abs -> /abs
        params = dict(urllib.parse.parse_qsl(query))
        return validate_options(cls, uri, "online store", path=path or "online.db", **params)


class SqliteOnlineStore(OnlineStore):
    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.options = SqliteOnlineOptions.from_uri(uri)
        self.path = self.options.path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    # -- connections ------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        local = self._local
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is None or local.pid != os.getpid():
            conn = self._connect()
            local.conn, local.pid = conn, os.getpid()
        return conn

    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.options.busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=512,
            )
            with self._lock:  # threads of this process set the file up one at a time
                self._prepare(conn)
        except sqlite3.Error as exc:
            raise StoreUnavailableError(
                f"Cannot open the online store {self.path}: {exc}. Check that the directory is "
                "writable, or set MODELYARD_ONLINE_URI.",
                uri=self.uri,
            ) from exc
        with self._lock:
            self._all.append(conn)
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """WAL mode and the tables, each only when missing: switching the journal mode and DDL
        need locks that a first connect racing other processes' writers may be refused at once
        ("database is locked", without waiting for the busy timeout), so retry until it."""
        deadline = time.monotonic() + self.options.busy_timeout_s
        delay = 0.005
        while True:
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
                tables = {
                    name
                    for (name,) in conn.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table'"
                    )
                }
                if not {"online_features", "stream_state"} <= tables:
                    conn.executescript(_SCHEMA)
                conn.execute(f"PRAGMA synchronous={self.options.synchronous}")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    # -- reads (the hot path) ---------------------------------------------------------------
    def read(self, reads: Sequence[OnlineRead]) -> list[list[OnlineRow | None]]:
        conn = self._conn()
        out = []
        for r in reads:
            if len(r.keys) == 1:
                rows = conn.execute(_READ_ONE, (r.view, r.keys[0])).fetchall()
            else:
                rows = []
                for i in range(0, len(r.keys), _CHUNK):
                    chunk = r.keys[i : i + _CHUNK]
                    query = (
                        "SELECT entity_key, event_ms, payload FROM online_features WHERE view = ? "
                        f"AND entity_key IN ({','.join('?' * len(chunk))})"
                    )
                    rows += conn.execute(query, (r.view, *chunk)).fetchall()
            # one JSON parse for all payloads of the view (not one call per entity)
            payloads = decode_document("[" + ",".join(p for _, _, p in rows) + "]")
            pick = field_picker(r.fields)
            found = {
                key: OnlineRow(ts, pick(values)) for (key, ts, _), values in zip(rows, payloads)
            }
            out.append([found.get(k) for k in r.keys])
        return out

    # -- writes -----------------------------------------------------------------------------
    def write(self, view: str, rows: Iterable[RowInput]) -> int:
        params = [(view, key, int(ts), json.dumps(dict(values))) for key, ts, values in rows]
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(_UPSERT, params)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # not when BEGIN itself failed
                conn.execute("ROLLBACK")
            raise
        return len(params)

    def transact(self, view: str, keys: Sequence[str], update: StateUpdate) -> int:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")  # holds the write lock: no other writer gets in
        try:
            states: dict[str, str | None] = dict.fromkeys(keys)
            for i in range(0, len(keys), _CHUNK):
                chunk = list(keys[i : i + _CHUNK])
                query = (
                    "SELECT entity_key, state FROM stream_state WHERE view = ? AND entity_key IN "
                    f"({','.join('?' * len(chunk))})"
                )
                states.update(dict(conn.execute(query, (view, *chunk)).fetchall()))
            rows, new_states = update(states)
            conn.executemany(
                _UPSERT, [(view, k, int(ts), json.dumps(dict(v))) for k, ts, v in rows]
            )
            conn.executemany(
                "INSERT INTO stream_state (view, entity_key, state) VALUES (?, ?, ?) "
                "ON CONFLICT (view, entity_key) DO UPDATE SET state = excluded.state",
                [(view, k, s) for k, s in new_states.items()],
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # not when BEGIN itself failed
                conn.execute("ROLLBACK")
            raise
        return len(rows)

    def delete_view(self, view: str) -> int:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        removed = conn.execute("DELETE FROM online_features WHERE view = ?", (view,)).rowcount
        conn.execute("DELETE FROM stream_state WHERE view = ?", (view,))
        conn.execute("COMMIT")
        return int(removed)

    def check(self) -> str:
        self._conn().execute("SELECT 1 FROM online_features LIMIT 1").fetchall()
        return f"SQLite {sqlite3.sqlite_version}, {self.path}"
