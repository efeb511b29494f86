"""Model signatures: the input columns (names, types, categories) and outputs of a model.

A signature is inferred from a sample frame at save time and used at load time to put incoming
frames into exactly the training layout: column order, dtypes, and the category set of each
categorical column (so a string that was never seen maps to missing, as in training).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelyard.errors import InvalidArgumentError

__all__ = ["ColumnSpec", "Signature", "as_frame", "column_kind", "infer_signature"]

TYPES = ("integer", "float", "boolean", "string", "category", "datetime")


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    name: str
    type: str
    nullable: bool = True
    categories: tuple[Any, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "nullable": self.nullable}
        if self.categories is not None:
            out["categories"] = list(self.categories)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSpec:
        cats = data.get("categories")
        return cls(
            str(data["name"]),
            str(data["type"]),
            bool(data.get("nullable", True)),
            tuple(cats) if cats is not None else None,
        )


@dataclass(frozen=True, slots=True)
class Signature:
    inputs: tuple[ColumnSpec, ...]
    outputs: tuple[ColumnSpec, ...] = ()
    _by_name: dict[str, ColumnSpec] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({c.name: c for c in self.inputs})

    @property
    def input_names(self) -> list[str]:
        return [c.name for c in self.inputs]

    def input(self, name: str) -> ColumnSpec | None:
        return self._by_name.get(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [c.to_dict() for c in self.inputs],
            "outputs": [c.to_dict() for c in self.outputs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Signature | None:
        if not data or not data.get("inputs"):
            return None
        return cls(
            tuple(ColumnSpec.from_dict(c) for c in data["inputs"]),
            tuple(ColumnSpec.from_dict(c) for c in data.get("outputs", [])),
        )

    def conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Reorder and cast ``frame`` to the signature. Missing columns are an error."""
        missing = [c.name for c in self.inputs if c.name not in frame.columns]
        if missing:
            raise InvalidArgumentError(
                f"Input is missing column(s) {', '.join(map(repr, missing))}; the model expects "
                f"{', '.join(self.input_names)}.",
                field=missing[0],
                missing=missing,
            )
        out = {}
        for spec in self.inputs:
            out[spec.name] = _cast(frame[spec.name], spec)
        return pd.DataFrame(out, index=frame.index)


def column_kind(series: pd.Series) -> str:
    """What a column holds: integer, float, boolean, datetime, category or string."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "string"


def _cast(series: pd.Series, spec: ColumnSpec) -> pd.Series:
    try:
        match spec.type:
            case "category":
                cats = list(spec.categories or ())
                if (
                    isinstance(series.dtype, pd.CategoricalDtype)
                    and list(series.cat.categories) == cats
                ):
                    return series
                values = series.astype(object).where(series.notna(), None)
                return pd.Series(
                    pd.Categorical(values, categories=cats), index=series.index, name=series.name
                )
            case "float":
                return (
                    series
                    if series.dtype == np.float64
                    else pd.to_numeric(series).astype(np.float64)
                )
            case "integer":
                if pd.api.types.is_integer_dtype(series.dtype):
                    return series
                numeric = pd.to_numeric(series)
                return numeric.astype(np.int64) if not numeric.isna().any() else numeric
            case "boolean":
                return series if pd.api.types.is_bool_dtype(series.dtype) else series.astype(bool)
            case "datetime":
                return pd.to_datetime(series)
            case _:
                return series
    except (ValueError, TypeError) as exc:
        raise InvalidArgumentError(
            f"Column {spec.name!r} must be {spec.type}: {exc}",
            field=spec.name,
        ) from exc


def infer_signature(sample: pd.DataFrame, predictions: Any = None, proba: Any = None) -> Signature:
    """Column names and types of ``sample``; outputs from example predictions when given."""
    if not isinstance(sample, pd.DataFrame):
        raise InvalidArgumentError(
            f"A signature is inferred from a pandas DataFrame, got {type(sample).__name__}.",
            field="sample",
        )
    inputs = []
    for name in sample.columns:
        series = sample[name]
        kind = column_kind(series)
        cats = tuple(_plain(c) for c in series.cat.categories) if kind == "category" else None
        inputs.append(ColumnSpec(str(name), kind, bool(series.isna().any()), cats))
    outputs: list[ColumnSpec] = []
    if predictions is not None:
        preds = pd.Series(np.asarray(predictions).ravel()[: len(sample)])
        outputs.append(ColumnSpec("prediction", column_kind(preds), False))
    if proba is not None:
        outputs.append(ColumnSpec("probabilities", "float", False))
    return Signature(tuple(inputs), tuple(outputs))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def as_frame(data: Any, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Accept a DataFrame, a list of records, a dict of columns, or a 2-D array."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        return pd.DataFrame(dict(data))
    if isinstance(data, np.ndarray):
        return pd.DataFrame(data, columns=list(columns) if columns else None)
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes)):
        rows = list(data)
        if rows and isinstance(rows[0], Mapping):
            return pd.DataFrame.from_records(rows)
        return pd.DataFrame(rows, columns=list(columns) if columns else None)
    raise InvalidArgumentError(
        f"Cannot turn {type(data).__name__} into a frame; pass a DataFrame, records or columns.",
        field="data",
    )
