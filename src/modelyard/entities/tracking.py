"""Tracking entities: plain frozen value objects, no I/O. Times are milliseconds since the epoch."""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

T = TypeVar("T")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class RunStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        return self is not RunStatus.RUNNING


class LifecycleStage(enum.StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: LifecycleStage = LifecycleStage.ACTIVE
    created_at: int = 0
    tags: Mapping[str, str] = field(default_factory=dict)


class Metric(NamedTuple):
    """One point of a metric. A named tuple (not a dataclass): a history read builds thousands."""

    key: str
    value: float
    step: int = 0
    timestamp: int = 0


@dataclass(frozen=True, slots=True)
class DatasetInput:
    """A dataset a run used: its fingerprint (sha256 of content and schema) and where it came from."""

    name: str
    digest: str
    source: str
    num_rows: int | None = None
    schema: Mapping[str, str] = field(default_factory=dict)
    context: str = "training"


@dataclass(frozen=True, slots=True)
class ArtifactFile:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Run:
    run_id: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None
    user: str
    artifact_uri: str
    parent_run_id: str | None = None
    code_version: str | None = None
    source: str | None = None
    lifecycle_stage: LifecycleStage = LifecycleStage.ACTIVE
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    """The latest value of each metric (highest step, then latest timestamp)."""
    inputs: tuple[DatasetInput, ...] = ()

    @property
    def duration_ms(self) -> int | None:
        return None if self.end_time is None else self.end_time - self.start_time

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "experiment_id": self.experiment_id,
            "name": self.name,
            "status": str(self.status),
            "start_time": self.start_time,
            "end_time": self.end_time,
            "user": self.user,
            "artifact_uri": self.artifact_uri,
            "parent_run_id": self.parent_run_id,
            "code_version": self.code_version,
            "source": self.source,
            "params": dict(self.params),
            "tags": dict(self.tags),
            "metrics": dict(self.metrics),
            "inputs": [
                {
                    "name": i.name,
                    "digest": i.digest,
                    "source": i.source,
                    "num_rows": i.num_rows,
                    "context": i.context,
                }
                for i in self.inputs
            ],
        }


@dataclass(frozen=True, slots=True)
class PagedList(Generic[T]):
    """One page of results; pass ``next_page_token`` back to get the next page (None: last page)."""

    items: list[T]
    next_page_token: str | None = None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> T:
        return self.items[index]
