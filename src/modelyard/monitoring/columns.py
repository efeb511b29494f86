"""Reading columns of a pandas DataFrame or a pyarrow Table the way drift checks need them.

- Names: the prediction log stores model input ``x`` as column ``input.x``; a feature is looked
  up as ``input.<name>`` first, then as ``<name>``.
- Numeric values become one float64 array with NaN for missing (nulls, NaN, NaT); datetimes
  become epoch seconds.
- Categories are counted per distinct value (Arrow or pandas hashing, no Python loop per row);
  each distinct value then gets a canonical string key, so the same category matches whether a
  column arrives as bool, int, float (1.0 is "1"), string or dictionary. A boolean is the
  integer code it equals (True is "1", as ``True == 1`` in Python, numpy and pandas), and so is
  its text ("True", "true"): a flag logged as bool matches the same flag profiled as 0 / 1 or
  read from a CSV. Profiles saved before this rule keyed booleans as "True" / "False";
  :func:`modelyard.monitoring.profile.canonical_feature` re-keys them when they are read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelyard.entities.drift import CATEGORICAL, DATETIME, NUMERIC
from modelyard.entities.predictions import INPUT_PREFIX, input_column, input_name
from modelyard.errors import InvalidArgumentError
from modelyard.flavors import column_kind

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "Frame",
    "canonical",
    "category_counts",
    "column_names",
    "find_column",
    "infer_kind",
    "is_arrow",
    "as_values",
    "n_rows",
    "numeric_values",
]

Frame = Any
"""a pandas DataFrame, a pyarrow Table, or a mapping of column name -> array"""

_KIND_OF_DTYPE = {
    "integer": NUMERIC,
    "float": NUMERIC,
    "boolean": CATEGORICAL,
    "string": CATEGORICAL,
    "category": CATEGORICAL,
    "datetime": DATETIME,
}


def is_arrow(data: Any) -> bool:
    return type(data).__module__.startswith("pyarrow") and hasattr(data, "column_names")


def as_frame(data: Frame, what: str = "data") -> Frame:
    """``data`` if it is a DataFrame or Table; a mapping of arrays becomes a DataFrame."""
    if isinstance(data, pd.DataFrame) or is_arrow(data):
        return data
    if isinstance(data, Mapping):
        return pd.DataFrame({str(k): as_values(v) for k, v in data.items()})
    raise InvalidArgumentError(
        f"{what} must be a pandas DataFrame, a pyarrow Table or a mapping of column -> values, "
        f"not {type(data).__name__}.",
        field=what,
    )


def as_values(values: Any) -> Any:
    """A pandas Series, numpy array or Arrow array as it is; anything else (a list) as numpy."""
    if isinstance(values, (pd.Series, np.ndarray)) or hasattr(values, "type"):
        return values
    return np.asarray(values)


def column_names(data: Frame) -> list[str]:
    return [str(c) for c in (data.column_names if is_arrow(data) else data.columns)]


def n_rows(data: Frame) -> int:
    return int(data.num_rows if is_arrow(data) else len(data))


def find_column(data: Frame, feature: str, names: set[str] | None = None) -> Any | None:
    """The column holding ``feature``: ``input.<feature>`` (prediction log) or ``<feature>``."""
    names = names if names is not None else set(column_names(data))
    for candidate in (input_column(feature), feature):
        if candidate in names:
            return data.column(candidate) if is_arrow(data) else data[candidate]
    return None


def feature_columns(data: Frame) -> dict[str, str]:
    """Feature name -> column: the ``input.*`` columns when there are any (a prediction-log
    window; its fixed columns are not features), else every column."""
    names = column_names(data)
    inputs = {input_name(c): c for c in names if c.startswith(INPUT_PREFIX)}
    if inputs:
        return {str(k): v for k, v in inputs.items()}
    return {c: c for c in names}


def get(data: Frame, column: str) -> Any:
    return data.column(column) if is_arrow(data) else data[column]


# -- kinds -----------------------------------------------------------------------------------
def value_dtype(column: Any) -> str:
    """integer, float, boolean, string, category or datetime (flavors.column_kind's names)."""
    if isinstance(column, pd.Series):
        return column_kind(column)
    if isinstance(column, np.ndarray):
        return column_kind(pd.Series(column[:0]))  # the dtype alone decides
    import pyarrow as pa

    t = column.type
    if pa.types.is_dictionary(t):
        return "category"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "datetime"
    return "string"


def infer_kind(column: Any) -> tuple[str, str]:
    """(kind, dtype): numeric for integers and floats, categorical for booleans, strings and
    categories, datetime for timestamps."""
    dtype = value_dtype(column)
    return _KIND_OF_DTYPE[dtype], dtype


# -- numeric values --------------------------------------------------------------------------
def numeric_values(column: Any) -> np.ndarray:
    """float64 values with NaN for every missing value; datetimes as epoch seconds. Values that
    are not numbers (a string in a numeric column) count as missing."""
    if isinstance(column, np.ndarray) and column.dtype.kind in "fiub":
        return column.astype(np.float64, copy=False)
    if not isinstance(column, (pd.Series, np.ndarray)):
        return _arrow_numeric(column)
    series = column if isinstance(column, pd.Series) else pd.Series(column)
    if column_kind(series) == "datetime":
        return _datetime_seconds(series)
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
        out: np.ndarray = series.to_numpy().astype(np.float64, copy=False)  # NaN marks missing
        return out
    try:
        out = series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        out = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _arrow_numeric(column: Any) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        return _datetime_seconds(column.to_pandas())
    try:
        cast = pc.cast(column, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return numeric_values(column.to_pandas())
    out: np.ndarray = (
        cast.to_numpy()
        if isinstance(cast, pa.ChunkedArray)
        else cast.to_numpy(zero_copy_only=False)
    )
    return out.astype(np.float64, copy=False)


def _datetime_seconds(series: pd.Series) -> np.ndarray:
    stamps = pd.to_datetime(series, utc=True, errors="coerce")
    nanos = stamps.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    out: np.ndarray = nanos.astype(np.int64).astype(np.float64) / 1e9
    out[np.isnat(nanos)] = np.nan
    return out


# -- categories ------------------------------------------------------------------------------
_BOOLEAN_TEXT = {"True": "1", "False": "0", "true": "1", "false": "0"}


def canonical(value: Any) -> str | None:
    """The key a category is counted under; None for a missing value. Idempotent: a key maps to
    itself."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return None
        if number.is_integer():
            return str(int(number))
        return repr(number)
    text = str(value)
    return _BOOLEAN_TEXT.get(text, text)


def category_counts(column: Any) -> tuple[dict[str, int], int]:
    """(canonical category -> count, missing count) of a column, counted without a Python loop
    per row (the loop runs over distinct values)."""
    if isinstance(column, (pd.Series, np.ndarray)):
        series = column if isinstance(column, pd.Series) else pd.Series(column)
        counts = series.value_counts(dropna=True, sort=False)
        pairs = zip(counts.index.tolist(), counts.to_numpy().tolist())
        total = len(series)
    else:
        pairs, total = _arrow_value_counts(column)
    merged: dict[str, int] = {}
    for value, count in pairs:
        key = canonical(value)
        if key is not None and count:
            merged[key] = merged.get(key, 0) + int(count)
    return merged, total - sum(merged.values())


def _arrow_value_counts(column: pa.ChunkedArray | pa.Array) -> tuple[Any, int]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    counts = pc.value_counts(column)
    values = counts.field("values").to_pylist()
    return zip(values, counts.field("counts").to_pylist()), len(column)
