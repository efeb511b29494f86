"""Point-in-time-correct training data: ``get_historical_features``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from modelyard.errors import DataValidationError, InvalidArgumentError
from modelyard.features.registry import DefinitionCache
from modelyard.features.resolve import Resolved, resolve_features, view_query
from modelyard.storage import Workspace

__all__ = ["get_historical_features", "to_arrow"]


def to_arrow(entities: Any) -> Any:
    """A DataFrame / Arrow table of entity rows as Arrow, or a path / URI left as it is."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(entities, (str, os.PathLike)):
        return str(entities)
    if isinstance(entities, pa.Table):
        return entities
    if isinstance(entities, pd.DataFrame):
        try:
            return pa.Table.from_pandas(entities, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DataValidationError(
                f"The entity frame cannot be converted to Arrow: {exc}. Give each column one type.",
            ) from exc
    raise InvalidArgumentError(
        f"Entity rows must be a pandas DataFrame, a pyarrow Table or a Parquet/CSV path, got "
        f"{type(entities).__name__}.",
        field="entity_df",
    )


def get_historical_features(
    workspace: Workspace,
    cache: DefinitionCache,
    entity_df: Any,
    features: str | Sequence[str],
    *,
    timestamp_column: str = "event_timestamp",
    full_feature_names: bool = False,
    output: str | None = None,
) -> tuple[Any, Resolved]:
    """For each entity row, the latest value of each feature at or before the row's time and
    within its view's TTL (null otherwise), never a value from the row's future. Every entity
    row is kept, in order. Returns (a DataFrame, or the row count written to ``output``; the
    resolved features)."""
    resolved = resolve_features(cache, features, full_feature_names=full_feature_names)
    entities = to_arrow(entity_df)
    if not isinstance(entities, str):
        clash = sorted(set(entities.column_names) & set(resolved.names))
        if clash:
            raise InvalidArgumentError(
                f"The entity rows already have a column named {clash[0]!r}, like a requested "
                "feature; rename it or ask for full feature names (view__feature).",
                field="entity_df",
                columns=clash,
            )
    plans = [
        view_query(rv.view, rv.join_keys, list(zip(rv.features, rv.outputs)))
        for rv in resolved.views
    ]
    result = workspace.offline.get_historical_features(
        entities, timestamp_column, plans, output=output
    )
    if output is not None:
        return int(result), resolved
    return result.to_pandas(), resolved
