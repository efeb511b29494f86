"""Training sets: a feature service joined point-in-time onto a labelled entity file, with the
feature view versions used (for the run's lineage)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelyard.errors import DataValidationError

__all__ = ["TrainingSet", "pick_timestamp_column"]


@dataclass(frozen=True, slots=True)
class TrainingSet:
    frame: Any
    """The entity rows (labels included) with one column per feature."""
    feature_names: list[str]
    feature_views: list[tuple[str, int]]
    """(view, version) of every feature view the features came from."""
    service: str | None
    timestamp_column: str

    @property
    def lineage_refs(self) -> list[str]:
        return [f"{name}/{version}" for name, version in self.feature_views]


_TIME_TYPES = ("TIMESTAMP", "DATE", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS")


def pick_timestamp_column(columns: Mapping[str, str], given: str | None) -> str:
    """The entity rows' time column: the one given, else ``event_timestamp``, else the only
    time-typed column."""
    if given is not None:
        return given
    if "event_timestamp" in columns:
        return "event_timestamp"
    times = [c for c, t in columns.items() if str(t).upper().startswith(_TIME_TYPES)]
    if len(times) == 1:
        return times[0]
    raise DataValidationError(
        "Cannot tell which column of the entity rows holds their time: "
        + (f"several do ({', '.join(times)})" if times else "none is a timestamp")
        + "; name it (timestamp_column).",
        columns=list(columns),
    )
