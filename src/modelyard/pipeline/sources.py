"""Where a pipeline's rows come from: one loader per kind of ``data`` section.

A new kind (the feature store's point-in-time training sets) registers its spec model and a
loader returning a :class:`modelyard.data.Dataset`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelyard.data import Dataset, read_dataset
from modelyard.errors import InvalidArgumentError
from modelyard.pipeline.loading import LoadedSpec
from modelyard.pipeline.spec import DataCommon, FileData
from modelyard.storage import Workspace

__all__ = ["load_data", "register_data_loader"]

Loader = Callable[[Any, Workspace, LoadedSpec], Dataset]
_LOADERS: dict[type[DataCommon], Loader] = {}


def register_data_loader(kind: type[DataCommon], loader: Loader) -> None:
    _LOADERS[kind] = loader


def _load_file(data: FileData, workspace: Workspace, loaded: LoadedSpec) -> Dataset:
    return read_dataset(
        loaded.resolve(data.source),
        workspace,
        format=data.format,
        options=data.options,
        name=f"{loaded.spec.name}-data",
    )


register_data_loader(FileData, _load_file)


def load_data(loaded: LoadedSpec, workspace: Workspace) -> Dataset:
    data = loaded.spec.data
    loader = _LOADERS.get(type(data))
    if loader is None:
        raise InvalidArgumentError(
            f"No loader for data sections of kind {type(data).__name__}.", field="data"
        )
    return loader(data, workspace, loaded)
