"""Feature store metadata: versioned definitions (entities, feature views, feature services) and
the record of every materialization.

A definition is stored as its validated spec (JSON) with a sha256 of the canonical JSON.
Applying an unchanged spec is a no-op; a changed one becomes the next version and the old
versions stay readable. Every change writes its audit event in the same transaction. Concurrent
applies are serialized (the SQLite write lock; a transaction-scoped advisory lock on PostgreSQL),
so two writers never claim the same version number.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelyard.entities import (
    DEFINITION_KINDS,
    FeatureDefinitionRecord,
    LineageNode,
    Materialization,
    now_ms,
)
from modelyard.errors import InvalidArgumentError, NotFoundError, suggest
from modelyard.storage.metadata import schema as t
from modelyard.storage.metadata.database import Database

__all__ = ["FeatureMetadataStore", "spec_digest"]


def spec_digest(spec: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a spec (sorted keys, no whitespace)."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _check_kind(kind: str) -> str:
    if kind not in DEFINITION_KINDS:
        raise InvalidArgumentError(
            f"Unknown definition kind {kind!r}{suggest(kind, DEFINITION_KINDS)}; "
            f"use one of {', '.join(DEFINITION_KINDS)}.",
            field="kind",
            value=kind,
        )
    return kind


def _record(row: Any) -> FeatureDefinitionRecord:
    return FeatureDefinitionRecord(
        row.kind, row.name, row.version, row.spec, row.digest, row.created_at, row.created_by
    )


class FeatureMetadataStore:
    """Definitions and materialization records of the feature store, on the metadata database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- definitions ------------------------------------------------------------------------
    def apply_definitions(
        self, items: Sequence[tuple[str, str, Mapping[str, Any]]], *, actor: str
    ) -> list[tuple[FeatureDefinitionRecord, str]]:
        """Store ``(kind, name, spec)`` items in one transaction.

        Returns each item's current record and what happened to it: ``created`` (version 1),
        ``updated`` (a new version) or ``unchanged``.
        """
        out: list[tuple[FeatureDefinitionRecord, str]] = []
        with self.db.write() as conn:
            self.db.xact_lock(conn, "modelyard-features-apply")
            for kind, name, spec in items:
                out.append(self._apply_one(conn, _check_kind(kind), name, spec, actor))
        return out

    def _apply_one(
        self, conn: Connection, kind: str, name: str, spec: Mapping[str, Any], actor: str
    ) -> tuple[FeatureDefinitionRecord, str]:
        digest = spec_digest(spec)
        latest = self._latest_row(conn, kind, name)
        if latest is not None and latest.digest == digest:
            return _record(latest), "unchanged"
        version = 1 if latest is None else latest.version + 1
        row = {
            "kind": kind,
            "name": name,
            "version": version,
            "spec": json.loads(json.dumps(spec, default=str)),
            "digest": digest,
            "created_at": now_ms(),
            "created_by": actor,
        }
        conn.execute(t.feature_definitions.insert().values(**row))
        status = "created" if latest is None else "updated"
        self.db.audit(
            conn,
            actor,
            f"{kind}.{'create' if latest is None else 'update'}",
            kind,
            f"{name}/{version}",
            {"name": name, "version": version, "digest": digest},
        )
        return FeatureDefinitionRecord(**row), status

    @staticmethod
    def _latest_row(conn: Connection, kind: str, name: str) -> Any:
        c = t.feature_definitions.c
        return conn.execute(
            sa.select(t.feature_definitions)
            .where(c.kind == kind, c.name == name)
            .order_by(c.version.desc())
            .limit(1)
        ).first()

    def get_definition(
        self, kind: str, name: str, version: int | None = None
    ) -> FeatureDefinitionRecord:
        """One version of a definition (the latest when ``version`` is None)."""
        c = t.feature_definitions.c
        with self.db.read() as conn:
            if version is None:
                row = self._latest_row(conn, _check_kind(kind), name)
            else:
                row = conn.execute(
                    sa.select(t.feature_definitions).where(
                        c.kind == kind, c.name == name, c.version == version
                    )
                ).first()
            if row is not None:
                return _record(row)
            names = self._names(conn, kind)
        label = kind.replace("_", " ")
        if version is not None and name in names:
            known = ", ".join(str(v.version) for v in self.list_versions(kind, name))
            raise NotFoundError(
                f"The {label} {name!r} has no version {version}; versions: {known}.",
                kind=kind,
                name=name,
                version=version,
            )
        raise NotFoundError(
            f"No {label} named {name!r}{suggest(name, names)}. "
            f"Known: {', '.join(sorted(names)) or 'none'} (register with `modelyard features "
            "apply`).",
            kind=kind,
            name=name,
        )

    @staticmethod
    def _names(conn: Connection, kind: str) -> list[str]:
        c = t.feature_definitions.c
        return [r[0] for r in conn.execute(sa.select(c.name).where(c.kind == kind).distinct())]

    def list_definitions(self, kind: str | None = None) -> list[FeatureDefinitionRecord]:
        """The latest version of every definition (of one kind, or all), ordered by kind, name."""
        c = t.feature_definitions.c
        latest = (
            sa.select(c.kind, c.name, sa.func.max(c.version).label("version"))
            .group_by(c.kind, c.name)
            .subquery()
        )
        query = sa.select(t.feature_definitions).join(
            latest,
            sa.and_(
                c.kind == latest.c.kind, c.name == latest.c.name, c.version == latest.c.version
            ),
        )
        if kind is not None:
            query = query.where(c.kind == _check_kind(kind))
        with self.db.read() as conn:
            return [_record(r) for r in conn.execute(query.order_by(c.kind, c.name))]

    def list_versions(self, kind: str, name: str) -> list[FeatureDefinitionRecord]:
        c = t.feature_definitions.c
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(t.feature_definitions)
                .where(c.kind == _check_kind(kind), c.name == name)
                .order_by(c.version)
            )
            return [_record(r) for r in rows]

    def latest_versions(self) -> dict[tuple[str, str], int]:
        """(kind, name) -> latest version: one cheap query to tell whether a cache is stale."""
        c = t.feature_definitions.c
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(c.kind, c.name, sa.func.max(c.version)).group_by(c.kind, c.name)
            )
            return {(k, n): int(v) for k, n, v in rows}

    # -- materializations -------------------------------------------------------------------
    def record_materialization(
        self, view: str, version: int, start: int, end: int, rows: int, *, actor: str
    ) -> Materialization:
        record = Materialization(view, version, start, end, rows, now_ms(), actor)
        with self.db.write() as conn:
            conn.execute(
                t.feature_materializations.insert().values(
                    view=view,
                    version=version,
                    start_ts=start,
                    end_ts=end,
                    num_rows=rows,
                    created_at=record.created_at,
                    created_by=actor,
                )
            )
            self.db.audit(
                conn,
                actor,
                "feature_view.materialize",
                "feature_view",
                f"{view}/{version}",
                {"start": start, "end": end, "rows": rows},
            )
        return record

    def list_materializations(self, view: str, limit: int = 100) -> list[Materialization]:
        """Materializations of a view, newest first."""
        c = t.feature_materializations.c
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(t.feature_materializations)
                .where(c.view == view)
                .order_by(c.id.desc())
                .limit(limit)
            )
            return [
                Materialization(
                    r.view, r.version, r.start_ts, r.end_ts, r.num_rows, r.created_at, r.created_by
                )
                for r in rows
            ]

    def last_materialized(self, view: str, version: int | None = None) -> int | None:
        """The latest ``end`` a materialization of ``view`` reached (ms), or None; with
        ``version``, only materializations of that version count (the rows an older version
        wrote online lack what a new version changed)."""
        c = t.feature_materializations.c
        query = sa.select(sa.func.max(c.end_ts)).where(c.view == view)
        if version is not None:
            query = query.where(c.version == version)
        with self.db.read() as conn:
            value = conn.execute(query).scalar()
        return None if value is None else int(value)

    # -- lineage ----------------------------------------------------------------------------
    def link_run(self, run_id: str, views: Sequence[tuple[str, int]], relation: str) -> None:
        """Lineage edges feature view version -> run, for the views a run's data came from."""
        with self.db.write() as conn:
            for name, version in views:
                self.db.add_edge(
                    conn,
                    LineageNode("feature_view", f"{name}/{version}"),
                    LineageNode("run", run_id),
                    relation,
                )
