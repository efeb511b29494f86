"""Reading the audit trail and the lineage graph (both are written by the other sub-stores)."""

from __future__ import annotations

from collections import deque
from typing import Any, Literal

import sqlalchemy as sa

from modelyard.entities import AuditEvent, LineageEdge, LineageNode
from modelyard.storage.metadata import schema as t
from modelyard.storage.metadata.database import Database

__all__ = ["AuditStore"]


class AuditStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list_events(
        self,
        *,
        object_type: str | None = None,
        object_id: str | None = None,
        action: str | None = None,
        actor: str | None = None,
        since: int | None = None,
        limit: int = 1000,
    ) -> list[AuditEvent]:
        """Audit events, newest first."""
        query = sa.select(t.audit_events)
        for column, value in (
            ("object_type", object_type),
            ("object_id", object_id),
            ("action", action),
            ("actor", actor),
        ):
            if value is not None:
                query = query.where(t.audit_events.c[column] == value)
        if since is not None:
            query = query.where(t.audit_events.c.timestamp >= since)
        query = query.order_by(t.audit_events.c.id.desc()).limit(limit)
        with self.db.read() as conn:
            return [
                AuditEvent(
                    r.id,
                    r.timestamp,
                    r.actor,
                    r.action,
                    r.object_type,
                    r.object_id,
                    r.details or {},
                )
                for r in conn.execute(query)
            ]

    def record(
        self,
        actor: str,
        action: str,
        object_type: str,
        object_id: str,
        details: dict[str, Any] | None = None,
        *,
        edges: list[LineageEdge] | None = None,
    ) -> None:
        """Write one audit event in its own transaction (for events that change nothing else),
        with the lineage ``edges`` it creates."""
        with self.db.write() as conn:
            self.db.audit(conn, actor, action, object_type, object_id, details)
            for e in edges or ():
                self.db.add_edge(conn, e.source, e.target, e.relation, e.details)

    def add_lineage(self, edges: list[LineageEdge]) -> None:
        with self.db.write() as conn:
            for e in edges:
                self.db.add_edge(conn, e.source, e.target, e.relation, e.details)

    def get_lineage(
        self,
        node: LineageNode,
        direction: Literal["upstream", "downstream"] = "upstream",
        depth: int = 10,
    ) -> list[LineageEdge]:
        """Edges reachable from ``node`` (upstream: what it came from; downstream: what came of it)."""
        edges: list[LineageEdge] = []
        seen = {node}
        frontier = deque([(node, 0)])
        near, far = ("target", "source") if direction == "upstream" else ("source", "target")
        with self.db.read() as conn:
            while frontier:
                current, level = frontier.popleft()
                if level >= depth:
                    continue
                rows = conn.execute(
                    sa.select(t.lineage_edges)
                    .where(
                        t.lineage_edges.c[f"{near}_kind"] == current.kind,
                        t.lineage_edges.c[f"{near}_id"] == current.id,
                    )
                    .order_by(t.lineage_edges.c.id)
                )
                for r in rows:
                    edge = LineageEdge(
                        LineageNode(r.source_kind, r.source_id),
                        LineageNode(r.target_kind, r.target_id),
                        r.relation,
                        r.timestamp,
                        r.details or {},
                    )
                    edges.append(edge)
                    nxt = getattr(edge, far)
                    if nxt not in seen:
                        seen.add(nxt)
                        frontier.append((nxt, level + 1))
        return edges
