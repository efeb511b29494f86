"""Where a pipeline's rows come from: one loader per kind of ``data`` section.

A loader returns a :class:`SourceData`: the rows the pipeline trains on (with their
fingerprint), the ingest step's cache key, every input to record on the run and, for rows built
from the feature store, which features they hold. A new kind registers its spec model and a
loader with :func:`register_data_loader`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelyard.data import Dataset, read_dataset
from modelyard.entities import DatasetInput
from modelyard.errors import InvalidArgumentError
from modelyard.pipeline.feature_data import FeatureInputs, load_feature_data
from modelyard.pipeline.loading import LoadedSpec
from modelyard.pipeline.spec import DataCommon, FeatureData, FileData
from modelyard.storage import Workspace

__all__ = ["SourceData", "load_data", "register_data_loader"]


@dataclass(frozen=True)
class SourceData:
    """What a data loader hands the ingest step."""

    dataset: Dataset
    """the rows the pipeline trains on, with their fingerprint"""
    key: str
    """everything that determines the rows (the ingest step's cache key)"""
    inputs: tuple[DatasetInput, ...]
    """the datasets to record as the run's inputs"""
    features: FeatureInputs | None = None
    """for rows joined from the feature store: the features and the view versions used"""
    summary: str = ""


Loader = Callable[[Any, Workspace, LoadedSpec], SourceData]
_LOADERS: dict[type[DataCommon], Loader] = {}


def register_data_loader(kind: type[DataCommon], loader: Loader) -> None:
    _LOADERS[kind] = loader


def _load_file(data: FileData, workspace: Workspace, loaded: LoadedSpec) -> SourceData:
    dataset = read_dataset(
        loaded.resolve(data.source),
        workspace,
        format=data.format,
        options=data.options,
        name=f"{loaded.spec.name}-data",
    )
    frame = dataset.frame
    return SourceData(
        dataset,
        dataset.digest,
        (dataset.input,),
        summary=f"{len(frame):,} rows x {frame.shape[1]} columns ({dataset.format}), "
        f"fingerprint {dataset.digest[:12]}",
    )


def _load_features(data: FeatureData, workspace: Workspace, loaded: LoadedSpec) -> SourceData:
    joined = load_feature_data(data, workspace, loaded)
    frame, features = joined.dataset.frame, joined.features
    return SourceData(
        joined.dataset,
        joined.key,
        (joined.dataset.input, joined.entities.input),
        features,
        summary=f"{len(frame):,} entity rows ({joined.entities.format}) + "
        f"{len(features.feature_names)} features from {features.label} "
        f"({', '.join(features.view_refs)}), point-in-time; fingerprint "
        f"{joined.dataset.digest[:12]}",
    )


register_data_loader(FileData, _load_file)
register_data_loader(FeatureData, _load_features)


def load_data(loaded: LoadedSpec, workspace: Workspace) -> SourceData:
    data = loaded.spec.data
    loader = _LOADERS.get(type(data))
    if loader is None:
        raise InvalidArgumentError(
            f"No loader for data sections of kind {type(data).__name__}.", field="data"
        )
    return loader(data, workspace, loaded)
