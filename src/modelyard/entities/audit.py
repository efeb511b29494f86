"""Audit events and lineage edges: the record of who changed what, and what came from what."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One mutation: ``actor`` did ``action`` (e.g. ``model_version.promote``) to ``object``."""

    event_id: int
    timestamp: int
    actor: str
    action: str
    object_type: str
    object_id: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "timestamp": self.timestamp,
            "actor": self.actor,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "details": dict(self.details),
        }


@dataclass(frozen=True, slots=True)
class LineageNode:
    """A node of the lineage graph, e.g. ``("dataset", "<sha256>")`` or ``("model_version", "fraud/3")``."""

    kind: str
    id: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True, slots=True)
class LineageEdge:
    """``source`` was used to produce ``target`` (``relation`` says how)."""

    source: LineageNode
    target: LineageNode
    relation: str
    timestamp: int = 0
    details: Mapping[str, Any] = field(default_factory=dict)
