"""Value objects shared by every layer: frozen dataclasses, no I/O."""

from modelyard.entities.audit import AuditEvent, LineageEdge, LineageNode
from modelyard.entities.registry import (
    ALIAS_PATTERN,
    MODEL_NAME_PATTERN,
    RESERVED_ALIASES,
    ModelVersion,
    RegisteredModel,
    Stage,
    StageTransition,
    Webhook,
)
from modelyard.entities.tracking import (
    ArtifactFile,
    DatasetInput,
    Experiment,
    LifecycleStage,
    Metric,
    PagedList,
    Run,
    RunStatus,
    now_ms,
)

__all__ = [
    "ALIAS_PATTERN",
    "MODEL_NAME_PATTERN",
    "RESERVED_ALIASES",
    "ArtifactFile",
    "AuditEvent",
    "DatasetInput",
    "Experiment",
    "LifecycleStage",
    "LineageEdge",
    "LineageNode",
    "Metric",
    "ModelVersion",
    "PagedList",
    "RegisteredModel",
    "Run",
    "RunStatus",
    "Stage",
    "StageTransition",
    "Webhook",
    "now_ms",
]
