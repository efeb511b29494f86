"""Registry entities: registered models, versions, stage transitions, webhooks."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Stage(enum.StrEnum):
    """Reserved aliases. ``staging`` and ``production`` have at most one holder each."""

    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"


RESERVED_ALIASES = frozenset(s.value for s in Stage) | {"latest"}
ALIAS_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    name: str
    description: str = ""
    created_at: int = 0
    updated_at: int = 0
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, int] = field(default_factory=dict)
    """alias -> version, including the stages ``staging`` / ``production`` when held."""
    latest_version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "latest_version": self.latest_version,
            "aliases": dict(self.aliases),
            "tags": dict(self.tags),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class ModelVersion:
    name: str
    version: int
    artifact_uri: str
    flavor: str
    created_at: int
    created_by: str
    run_id: str | None = None
    source: str = ""
    stage: str | None = None
    description: str = ""
    signature: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    """relative path -> sha256 of every file of the model artifact."""
    metrics: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "artifact_uri": self.artifact_uri,
            "flavor": self.flavor,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "run_id": self.run_id,
            "source": self.source,
            "stage": self.stage,
            "description": self.description,
            "signature": dict(self.signature),
            "files": dict(self.files),
            "metrics": dict(self.metrics),
            "tags": dict(self.tags),
            "aliases": list(self.aliases),
        }


@dataclass(frozen=True, slots=True)
class StageTransition:
    """A stage moved: ``version`` went from ``from_stage`` to ``to_stage`` (None: no stage)."""

    transition_id: int
    name: str
    version: int
    from_stage: str | None
    to_stage: str | None
    actor: str
    timestamp: int
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "transition_id": self.transition_id,
            "name": self.name,
            "version": self.version,
            "from_stage": self.from_stage,
            "to_stage": self.to_stage,
            "actor": self.actor,
            "timestamp": self.timestamp,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Webhook:
    """A URL called (HMAC-SHA256 signed) when a model version is promoted."""

    webhook_id: int
    url: str
    secret: str = field(repr=False, default="")
    model_name: str | None = None
    """Only promotions of this model; None: every model."""
    created_at: int = 0
