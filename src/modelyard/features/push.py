"""``push(view, rows)``: fresh values written online and appended to the view's offline log.

Rows are checked before anything is written: every join key, the event time and every feature
must be present with the declared type; the first bad value is named (column, row, value).
The offline log is written first, so the online store never holds a value the offline store
does not know (training-serving parity).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from modelyard.errors import DataValidationError, InvalidArgumentError
from modelyard.features.definitions import FeatureView
from modelyard.features.resolve import entity_key, key_value
from modelyard.storage import Workspace

__all__ = ["push_rows", "to_epoch_ms"]

_CHECKS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "int64": (int, "an integer"),
    "float64": ((int, float), "a number"),
    "string": (str, "a string"),
    "bool": (bool, "true or false"),
}


_ABSENT = object()
_INT64 = range(-(2**63), 2**63)


def _is_int64(value: Any) -> bool:
    return isinstance(value, int) and value in _INT64


def to_epoch_ms(value: Any) -> int:
    """A timestamp (datetime, pandas / numpy time, ISO-8601 text, or epoch ms) as epoch ms;
    naive times are UTC."""
    import pandas as pd

    if isinstance(value, bool) or value is None:
        raise ValueError("not a time")
    if isinstance(value, int):
        return value
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        raise ValueError("not a time")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(dt.UTC)
    return int(stamp.value // 1_000_000)


def _columns(rows: Any) -> tuple[dict[str, list[Any]], int]:
    import pandas as pd

    if isinstance(rows, pd.DataFrame):
        frame = rows.astype(object).where(rows.notna(), None)
        return {str(c): frame[c].tolist() for c in frame.columns}, len(frame)
    if isinstance(rows, Mapping):
        rows = [rows]
    if not isinstance(rows, Sequence) or not all(isinstance(r, Mapping) for r in rows):
        raise InvalidArgumentError(
            "Pushed rows must be a DataFrame, a mapping or a list of mappings.", field="rows"
        )
    names = list(dict.fromkeys(k for r in rows for k in r))
    return {n: [r.get(n, _ABSENT) for r in rows] for n in names}, len(rows)


def _check_value(view: str, column: str, dtype: str, i: int, value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    kinds, label = _CHECKS[dtype]
    ok = isinstance(value, kinds) and not (dtype != "bool" and isinstance(value, bool))
    if dtype == "float64" and ok:
        return float(value)
    if ok and dtype == "int64" and not _is_int64(value):
        raise _bad_value(
            view,
            column,
            i,
            value,
            f"{column!r} is int64, but {value!r} is out of its range ({_INT64.start} to "
            f"{_INT64.stop - 1})",
        )
    if not ok:
        raise _bad_value(
            view,
            column,
            i,
            value,
            f"{column!r} must be {label} ({dtype}), got {type(value).__name__} {value!r}",
        )
    return value


def _bad_value(view: str, column: str, i: int, value: Any, problem: str) -> DataValidationError:
    """The error for one bad pushed value (``problem`` says what is wrong with it)."""
    return DataValidationError(
        f"Pushed row {i} of {view!r}: {problem}. Nothing was written.",
        view=view,
        column=column,
        row=i,
        value=repr(value),
    )


def _validate(
    view: FeatureView, join_keys: Sequence[str], rows: Any
) -> tuple[dict[str, list[Any]], list[int], int]:
    columns, n = _columns(rows)
    needed = [*join_keys, view.timestamp_field, *view.feature_names]
    missing = [c for c in needed if c not in columns]
    if missing:
        raise DataValidationError(
            f"Pushed rows of {view.name!r} have no column {missing[0]!r}; they need "
            f"{', '.join(needed)}. Nothing was written.",
            view=view.name,
            missing=missing,
        )
    extra = [c for c in columns if c not in needed]
    if extra:
        raise DataValidationError(
            f"Pushed rows of {view.name!r} have unknown column {extra[0]!r}; the view's "
            f"columns are {', '.join(needed)}. Nothing was written.",
            view=view.name,
            unknown=extra,
        )
    for name in needed:
        # by identity: ``in`` would also compare with ==, which an array value cannot answer
        i = next((i for i, v in enumerate(columns[name]) if v is _ABSENT), None)
        if i is not None:
            raise DataValidationError(
                f"Pushed row {i} has no column {name!r} (other rows have it); give every row "
                "the same columns. Nothing was written.",
                row=i,
                column=name,
            )
    for key in join_keys:
        for i, raw in enumerate(columns[key]):
            v = columns[key][i] = key_value(raw)
            if v is None or not (isinstance(v, str) or v in _INT64):
                problem = f"join key {key!r} must be a string or an integer (int64), got {raw!r}"
                raise _bad_value(view.name, key, i, raw, problem)
    stamps = []
    for i, v in enumerate(columns[view.timestamp_field]):
        try:
            stamps.append(to_epoch_ms(v))
            if not _is_int64(stamps[-1] * 1000):  # stored in microseconds
                raise ValueError("out of range")
        except (ValueError, TypeError, OverflowError):
            problem = f"{view.timestamp_field!r} must be a time, got {v!r}"
            raise _bad_value(view.name, view.timestamp_field, i, v, problem) from None
    for f in view.all_features:
        columns[f.name] = [
            _check_value(view.name, f.name, f.dtype, i, v) for i, v in enumerate(columns[f.name])
        ]
    return columns, stamps, n


def push_rows(workspace: Workspace, view: FeatureView, join_keys: Sequence[str], rows: Any) -> int:
    """Validate, append to the offline log, write online. Returns the number of rows."""
    import pyarrow as pa

    if view.aggregations:
        raise InvalidArgumentError(
            f"Feature view {view.name!r} computes aggregations from events; add events to its "
            "stream (or source) instead of pushing values.",
            view=view.name,
        )
    columns, stamps, n = _validate(view, join_keys, rows)
    if n == 0:
        return 0
    arrow_types = {"int64": pa.int64(), "float64": pa.float64(), "string": pa.string()}
    created = {}
    if view.created_timestamp_field:  # pushed now: newer than anything with the same event time
        now_us = int(dt.datetime.now(dt.UTC).timestamp() * 1_000_000)
        created[view.created_timestamp_field] = pa.array([now_us] * n, type=pa.timestamp("us"))
    table = pa.table(
        {
            **{k: columns[k] for k in join_keys},
            **created,
            view.timestamp_field: pa.array([s * 1000 for s in stamps], type=pa.timestamp("us")),
            **{
                f.name: pa.array(columns[f.name], type=arrow_types.get(f.dtype, pa.bool_()))
                for f in view.all_features
            },
        }
    )
    workspace.offline.append_log(view.name, table)
    if view.online:
        keys = [columns[k] for k in join_keys]
        features = view.feature_names
        workspace.online.write(
            view.name,
            [
                (
                    entity_key([k[i] for k in keys]),
                    stamps[i],
                    {f: columns[f][i] for f in features},
                )
                for i in range(n)
            ],
        )
    return n
