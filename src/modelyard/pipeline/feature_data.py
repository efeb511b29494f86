"""Training rows from the feature store: the ``data: {features:, entities:}`` kind of a spec.

The entity file (labelled rows: join keys, a time, the label, any other columns) is read like
any data file (:func:`modelyard.data.read_dataset`); then each row gets, for each feature, the
latest value at or before the row's time and within its view's TTL
(:meth:`modelyard.features.FeatureStore.get_training_set`, DuckDB ASOF joins): never a value
from the row's future. The joined rows' fingerprint, the entity file's and the feature view
versions make the ingest step's cache key, so a new entity file, new feature data or a new
version of a view re-runs every step after ingest.

:func:`check_references` runs before anything does: an unknown feature service, view or
feature is a spec problem with its path (``data.features[1]``) and close names.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from modelyard.data import Dataset, read_dataset
from modelyard.entities.specs import Problems
from modelyard.errors import DataValidationError, ModelyardError, suggest
from modelyard.features import FeatureStore, Resolved
from modelyard.pipeline.spec import FeatureData, PipelineSpec
from modelyard.storage import Workspace
from modelyard.tracking import fingerprint

if TYPE_CHECKING:
    from modelyard.pipeline.loading import LoadedSpec

__all__ = [
    "FEATURE_SERVICE_TAG",
    "JOIN_KEYS_TAG",
    "FeatureInputs",
    "JoinedData",
    "check_references",
    "load_feature_data",
]

FEATURE_SERVICE_TAG = "modelyard.features.service"
FEATURE_VIEWS_TAG = "modelyard.features.views"
JOIN_KEYS_TAG = "modelyard.features.join_keys"
REFERENCES_TAG = "modelyard.features.references"
_MAX_TAG = 5000  # characters in a model version tag value


@dataclass(frozen=True)
class FeatureInputs:
    """Which features a model trained on: enough for a server to fetch the same ones online
    (``get_online_features(service or references, rows with the join keys)``)."""

    service: str | None
    references: tuple[str, ...]
    """``view:feature`` of every feature column, in column order"""
    feature_names: tuple[str, ...]
    views: tuple[tuple[str, int], ...]
    """(view, version) of every feature view used"""
    join_keys: tuple[str, ...]
    timestamp: str
    full_feature_names: bool
    entities: str
    """where the labelled entity rows came from"""

    @property
    def label(self) -> str:
        if self.service:
            return f"feature service {self.service!r}"
        return f"{len(self.references)} feature reference(s)"

    @property
    def view_refs(self) -> list[str]:
        return [f"{name}/{version}" for name, version in self.views]

    def to_dict(self) -> dict[str, Any]:
        """For MODEL.yaml (``metadata.features``)."""
        return {
            "service": self.service,
            "references": list(self.references),
            "feature_names": list(self.feature_names),
            "views": self.view_refs,
            "join_keys": list(self.join_keys),
            "timestamp": self.timestamp,
            "full_feature_names": self.full_feature_names,
            "entities": self.entities,
        }

    def tags(self) -> dict[str, str]:
        """For the registered model version (the references only when they fit a tag value;
        MODEL.yaml always has them)."""
        tags = {
            FEATURE_VIEWS_TAG: ",".join(self.view_refs),
            JOIN_KEYS_TAG: ",".join(self.join_keys),
        }
        references = json.dumps(list(self.references))
        if len(references) <= _MAX_TAG:
            tags[REFERENCES_TAG] = references
        if self.service:
            tags[FEATURE_SERVICE_TAG] = self.service
        return tags


@dataclass(frozen=True)
class JoinedData:
    dataset: Dataset
    """the training rows: entity rows + one column per feature, with their fingerprint"""
    entities: Dataset
    """the entity file as read"""
    features: FeatureInputs
    key: str


def load_feature_data(data: FeatureData, workspace: Workspace, loaded: LoadedSpec) -> JoinedData:
    source = loaded.resolve(data.entities)
    entities = _read_entities(data, workspace, source, loaded.spec.name)
    fs = FeatureStore(workspace)
    resolved = fs.resolve(data.features, full_feature_names=data.full_feature_names)
    frame = _checked_entity_rows(entities.frame, data, resolved)
    needed = list(dict.fromkeys([*resolved.join_keys, data.timestamp]))
    training = fs.get_training_set(
        data.features,
        frame[needed],
        timestamp_column=data.timestamp,
        full_feature_names=data.full_feature_names,
    )
    joined = training.frame
    if len(joined) != len(frame):  # pragma: no cover - the offline store keeps every row
        raise ModelyardError(
            f"The point-in-time join returned {len(joined)} rows for {len(frame)} entity rows."
        )
    features = {name: joined[name].to_numpy() for name in training.feature_names}
    frame = pd.concat([frame, pd.DataFrame(features, index=frame.index)], axis=1)
    what = data.service or ",".join(resolved.references)
    dataset = Dataset(
        frame,
        f"{what} @ {source}",
        entities.format,
        entities.files,
        fingerprint(frame, source=f"features:{what}", name=f"{loaded.spec.name}-training-set"),
    )
    inputs = FeatureInputs(
        service=data.service,
        references=tuple(resolved.references),
        feature_names=tuple(training.feature_names),
        views=tuple(training.feature_views),
        join_keys=tuple(resolved.join_keys),
        timestamp=data.timestamp,
        full_feature_names=data.full_feature_names,
        entities=source,
    )
    return JoinedData(dataset, entities, inputs, _key(dataset, entities, inputs))


def _read_entities(data: FeatureData, workspace: Workspace, source: str, name: str) -> Dataset:
    try:
        return read_dataset(
            source, workspace, format=data.format, options=data.options, name=f"{name}-entities"
        )
    except ModelyardError as exc:
        if exc.details.get("field") == "data.source":
            exc.details["field"] = "data.entities"
        raise


def _checked_entity_rows(
    frame: pd.DataFrame, data: FeatureData, resolved: Resolved
) -> pd.DataFrame:
    """The entity rows, checked: join keys and time present, no column named like a feature;
    a time column written as text is parsed."""
    columns = [str(c) for c in frame.columns]
    for view in resolved.views:
        missing = [k for k in view.join_keys if k not in columns]
        if missing:
            raise DataValidationError(
                f"The entity rows have no column {missing[0]!r}{suggest(missing[0], columns)}, a "
                f"join key of feature view {view.name!r}; every entity row needs "
                f"{', '.join(view.join_keys)}. The rows have: {', '.join(columns)}.",
                field="data.entities",
                value=missing[0],
            )
    if data.timestamp not in columns:
        raise DataValidationError(
            f"data.timestamp {data.timestamp!r} is not a column of the entity rows"
            f"{suggest(data.timestamp, columns)}; they have {', '.join(columns)}.",
            field="data.timestamp",
            value=data.timestamp,
        )
    clash = [n for n in resolved.names if n in columns]
    if clash:
        raise DataValidationError(
            f"The entity rows already have a column {clash[0]!r}, the name of a feature; "
            "rename or remove it from the entity file, or set data.full_feature_names: true "
            "(feature columns become 'view__feature').",
            field="data.entities",
            value=clash[0],
        )
    return _parsed_time(frame, data.timestamp)


def _parsed_time(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    values = frame[column]
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return frame
    try:
        parsed = pd.to_datetime(values, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise DataValidationError(
            f"data.timestamp {column!r} holds values that are not times ({exc}); write them "
            "as ISO-8601 (2026-01-31T12:00:00) or as a timestamp column.",
            field="data.timestamp",
            value=column,
        ) from exc
    return frame.assign(**{column: parsed})


def _key(dataset: Dataset, entities: Dataset, inputs: FeatureInputs) -> str:
    payload = {
        "rows": dataset.digest,
        "entities": entities.digest,
        "views": inputs.view_refs,
        "references": list(inputs.references),
        "full_feature_names": inputs.full_feature_names,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


# -- checks before anything runs -------------------------------------------------------------
def check_references(
    spec: PipelineSpec, base_dir: Path, workspace: Workspace, problems: Problems
) -> None:
    """Feature services, views and features named by ``data.features`` exist in the workspace's
    registry; the label and time columns are not also feature names; a local entity file
    exists. Each problem is added with its path."""
    data = spec.data
    if not isinstance(data, FeatureData):
        return
    resolved = _resolve(FeatureStore(workspace), data, problems)
    if resolved is not None:
        for field in ("target", "timestamp"):
            value = getattr(data, field)
            if value in resolved.names:
                ref = resolved.references[resolved.names.index(value)]
                problems.add(
                    ("data", field),
                    f"{value!r} is also the name of a feature ({ref}); rename the entity "
                    "column or set data.full_feature_names: true",
                )
    if "://" not in data.entities:
        path = Path(data.entities).expanduser()
        path = path if path.is_absolute() else base_dir / path
        if not path.exists():
            problems.add(
                ("data", "entities"),
                f"{str(path)!r} does not exist (a relative path is resolved against the spec "
                "file's directory)",
            )


def _resolve(fs: FeatureStore, data: FeatureData, problems: Problems) -> Resolved | None:
    if isinstance(data.features, str):
        try:
            fs.get_feature_service(data.features)
        except ModelyardError as exc:
            problems.add(("data", "features"), exc.message)
            return None
    else:
        before = len(problems)
        for i, ref in enumerate(data.features):
            try:
                fs.resolve([ref])
            except ModelyardError as exc:
                problems.add(("data", "features", i), exc.message)
        if len(problems) > before:
            return None
    try:
        return fs.resolve(data.features, full_feature_names=data.full_feature_names)
    except ModelyardError as exc:
        problems.add(("data", "features"), exc.message)
        return None
