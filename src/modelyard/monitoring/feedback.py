"""Feedback: true labels for logged predictions, joined later by ``prediction_id``.

    result = record_feedback(workspace, [{"prediction_id": "p1", "label": 1}], model="fraud")
    result.accepted, result.unknown_ids, result.refused

Every row is checked before anything is written, and the accepted rows are written as one
file, so a batch is never half-written:

- an id the prediction log does not know is reported in ``unknown_ids`` (not an error); a
  ``model`` with no logged prediction at all is a NotFoundError naming it (a typo would
  otherwise report every id unknown);
- a label of the wrong type for the model (text for a model that predicts numbers, a boolean
  for one whose classes are not booleans, a value that is not one of the model version's
  classes) is refused with the field and the value; ``true`` is not taken for ``1``;
- the same id twice in one batch: the last row wins (``duplicates`` counts the others). A label
  sent again later is a correction: readers take the latest label of each prediction.

``strict=True`` turns any refused or unknown row into a DataValidationError and writes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelyard.entities.predictions import (
    FEEDBACK_DATASET,
    PREDICTION_DATASET,
    TIME_COLUMN,
)
from modelyard.errors import (
    DataValidationError,
    InvalidArgumentError,
    ModelyardError,
    NotFoundError,
    suggest,
)
from modelyard.monitoring.window import shadow_rows
from modelyard.storage import Workspace

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["FeedbackResult", "record_feedback", "record_feedback_file"]

MAX_REPORTED = 1000
"""at most this many unknown ids / refused rows are listed (the counts are always complete)"""


@dataclass
class FeedbackResult:
    received: int
    accepted: int = 0
    unknown_ids: list[str] = field(default_factory=list)
    unknown: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)
    """[{row, prediction_id, field, value, message}]"""
    refused_count: int = 0
    duplicates: int = 0
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "accepted": self.accepted,
            "unknown": self.unknown,
            "unknown_ids": self.unknown_ids,
            "refused_count": self.refused_count,
            "refused": self.refused,
            "duplicates": self.duplicates,
            "files": self.files,
        }


FeedbackRows = Any
"""mappings ``{prediction_id, label}``, a DataFrame, or an Arrow table"""


def _frame(rows: FeedbackRows) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        frame = rows.copy()
    elif hasattr(rows, "to_pandas") and hasattr(rows, "column_names"):  # an Arrow table
        frame = rows.to_pandas()
    else:
        items: list[Any] = list(rows)
        bad = next((i for i, r in enumerate(items) if not isinstance(r, Mapping)), None)
        if bad is not None:
            raise InvalidArgumentError(
                f"Feedback row {bad} is a {type(items[bad]).__name__}; each row is a mapping "
                "{prediction_id, label}.",
                field=f"feedback[{bad}]",
            )
        frame = pd.DataFrame.from_records(items, columns=["prediction_id", "label"])
        for i, item in enumerate(items):
            extra = set(item) - {"prediction_id", "label"}
            if extra:
                raise InvalidArgumentError(
                    f"Feedback row {i} has unknown field(s) {', '.join(sorted(map(str, extra)))}; "
                    "a row is {prediction_id, label}.",
                    field=f"feedback[{i}]",
                )
    missing = [c for c in ("prediction_id", "label") if c not in frame.columns]
    if missing:
        raise InvalidArgumentError(
            f"Feedback needs the columns prediction_id and label; missing {', '.join(missing)} "
            f"(got {', '.join(map(str, frame.columns)) or 'no columns'}).",
            field=missing[0],
        )
    frame = frame[["prediction_id", "label"]].reset_index(drop=True)
    frame.insert(0, "row", np.arange(len(frame)))
    return frame


def _refuse(out: list[dict[str, Any]], rows: pd.DataFrame, field_name: str, message: str) -> None:
    for row, pid, label in zip(rows["row"], rows["prediction_id"], rows["label"]):
        value = pid if field_name == "prediction_id" else label
        out.append(
            {
                "row": int(row),
                "prediction_id": None if _missing(pid) else str(pid),
                "field": field_name,
                "value": None if _missing(value) else _plain(value),
                "message": message.format(value=_plain(value)),
            }
        )


def _missing(value: Any) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _basic_checks(frame: pd.DataFrame, refused: list[dict[str, Any]]) -> pd.DataFrame:
    """Refuse rows without an id, without a label, or with a label that is not a scalar."""
    pid_ok = frame["prediction_id"].map(lambda v: isinstance(v, (str, int)) and str(v) != "")
    pid_ok = pid_ok.astype(bool)
    _refuse(refused, frame[~pid_ok], "prediction_id", "missing or empty prediction_id")
    frame = frame[pid_ok]
    label_missing = frame["label"].map(_missing).astype(bool)
    _refuse(refused, frame[label_missing], "label", "missing label")
    frame = frame[~label_missing]
    scalar = frame["label"].map(lambda v: isinstance(v, (str, int, float, bool, np.generic)))
    scalar = scalar.astype(bool)
    _refuse(
        refused,
        frame[~scalar],
        "label",
        "label {value!r} is not a number or a string",
    )
    frame = frame[scalar].copy()
    frame["prediction_id"] = frame["prediction_id"].astype(str)
    return frame


def _check_model(workspace: Workspace, model: str) -> None:
    """A NotFoundError naming ``model`` when the prediction log has no row of it."""
    from modelyard.registry import RegistryClient

    log = workspace.logs
    if log.files(PREDICTION_DATASET, partition={"model": model}):
        return
    logged = log.keys(PREDICTION_DATASET, "model")
    try:
        RegistryClient(workspace).get_model(model)
        what = f"Model {model!r} has no logged predictions"
    except NotFoundError:
        what = f"No model named {model!r} has logged predictions (nor is one registered)"
    raise NotFoundError(
        f"{what}{suggest(model, logged)}; feedback is for the ids a model server returned. "
        f"Models with predictions: {', '.join(logged) or 'none yet'}.",
        field="model",
        value=model,
    )


def _known_predictions(workspace: Workspace, ids: pa.Array, model: str | None) -> pd.DataFrame:
    """model, version, prediction_id and whether the model predicts text, for the ids the
    prediction log holds (reading only the columns needed). An id's version is the one that
    answered it: the shadow model's rows (same id) are not read."""
    import pyarrow as pa
    import pyarrow.compute as pc

    log = workspace.logs
    models = [model] if model else log.keys(PREDICTION_DATASET, "model")
    answered = shadow_rows(False)
    parts = []
    for name in models:
        table = log.read(
            PREDICTION_DATASET,
            partition={"model": name},
            columns=["prediction_id", "version", "prediction", "variant"],
            where=answered,
        )
        if table is None:
            continue
        table = table.filter(pc.is_in(table.column("prediction_id"), value_set=ids))
        if not table.num_rows:
            continue
        text = pa.types.is_string(table.column("prediction").type) or pa.types.is_large_string(
            table.column("prediction").type
        )
        part = table.select(["prediction_id", "version"]).to_pandas()
        part["model"], part["text"] = name, text
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=["prediction_id", "version", "model", "text"])
    known = pd.concat(parts, ignore_index=True)
    return known.drop_duplicates("prediction_id", keep="last")


class _Classes:
    """The classes of each model version, read from its manifest (None: not a classifier, or
    the version cannot be read; then only the type is checked)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.cache: dict[tuple[str, int], list[Any] | None] = {}

    def __call__(self, model: str, version: int) -> list[Any] | None:
        key = (model, int(version))
        if key not in self.cache:
            self.cache[key] = self._read(*key)
        return self.cache[key]

    def _read(self, model: str, version: int) -> list[Any] | None:
        from modelyard.flavors import read_manifest
        from modelyard.registry import RegistryClient

        try:
            path, _ = RegistryClient(self.workspace).download(f"models:/{model}/{version}")
            classes = read_manifest(path).classes
        except ModelyardError:
            return None
        return list(classes) if classes else None


def _check_labels(
    workspace: Workspace, rows: pd.DataFrame, refused: list[dict[str, Any]]
) -> pd.DataFrame:
    """Labels of the model's type (numbers for numeric predictions) and, when the version's
    classes are known, one of them. Returns the accepted rows with a ``value`` column."""
    classes = _Classes(workspace)
    accepted = []
    for (model, version, text), group in rows.groupby(["model", "version", "text"], sort=False):
        known = classes(str(model), int(version))
        if text:
            values = group["label"].map(lambda v: str(_plain(v)))
        else:
            group = _refuse_booleans(group, known, f"{model} v{version}", refused)
            values = pd.to_numeric(
                group["label"].map(lambda v: int(v) if isinstance(v, (bool, np.bool_)) else v),
                errors="coerce",
            ).astype(float)
            bad = values.isna()
            _refuse(
                refused,
                group[bad],
                "label",
                f"label {{value!r}} is not a number; {model} predicts numbers",
            )
            group, values = group[~bad], values[~bad]
        if known is not None:
            allowed = {str(c) for c in known} if text else {float(c) for c in known}
            inside = values.isin(allowed)
            listing = ", ".join(map(str, known))
            _refuse(
                refused,
                group[~inside],
                "label",
                f"label {{value!r}} is not a class of {model} v{version} (classes: {listing})",
            )
            group, values = group[inside], values[inside]
        accepted.append(group.assign(value=values, text=text))
    if not accepted:
        return rows.iloc[0:0].assign(value=pd.Series(dtype=object))
    return pd.concat(accepted).sort_values("row")


def _refuse_booleans(
    group: pd.DataFrame, known: list[Any] | None, what: str, refused: list[dict[str, Any]]
) -> pd.DataFrame:
    """Refuse true / false for a model whose classes are not booleans (``true`` is not taken
    for 1: for classes 1 / 2 it would be a valid class that means something else)."""
    if known and all(isinstance(c, (bool, np.bool_)) for c in known):
        return group
    boolean = group["label"].map(lambda v: isinstance(v, (bool, np.bool_))).astype(bool)
    if not boolean.any():
        return group
    message = (
        f"label {{value!r}} is a boolean, not one of the classes of {what} "
        f"({', '.join(map(str, known))}); send the class itself"
        if known
        else f"label {{value!r}} is a boolean; {what} predicts numbers"
    )
    _refuse(refused, group[boolean], "label", message)
    return group[~boolean]


def _table(rows: pd.DataFrame) -> pa.Table:
    import pyarrow as pa

    now = pd.Timestamp.now(tz="UTC").floor("ms")
    if rows["text"].any():  # text labels in the batch: every label as text
        labels = pa.array(
            [v if t else repr(float(v)) for v, t in zip(rows["value"], rows["text"])],
            type=pa.string(),
        )
    else:
        labels = pa.array(rows["value"].astype(float).to_numpy(), type=pa.float64())
    return pa.table(
        {
            "prediction_id": pa.array(rows["prediction_id"].tolist(), type=pa.string()),
            TIME_COLUMN: pa.array([now] * len(rows), type=pa.timestamp("ms", tz="UTC")),
            "label": labels,
        }
    )


def record_feedback(
    workspace: Workspace,
    rows: FeedbackRows,
    *,
    model: str | None = None,
    strict: bool = False,
) -> FeedbackResult:
    """Check and store true labels for logged predictions (see the module docstring).

    ``rows``: mappings ``{prediction_id, label}``, a DataFrame or an Arrow table with those
    columns. ``model``: look the ids up in this model's log only (faster; default: every
    model's); a NotFoundError when that model has no logged prediction."""
    import pyarrow as pa

    frame = _frame(rows)
    if model is not None:
        _check_model(workspace, model)
    result = FeedbackResult(received=len(frame))
    if frame.empty:
        return result
    refused: list[dict[str, Any]] = []
    frame = _basic_checks(frame, refused)
    before = len(frame)
    frame = frame.drop_duplicates("prediction_id", keep="last")
    result.duplicates = before - len(frame)
    ids = pa.array(frame["prediction_id"].unique().tolist(), type=pa.string())
    known = _known_predictions(workspace, ids, model) if len(ids) else None
    if known is None or known.empty:
        matched = frame.iloc[0:0].assign(model="", version=0, text=False)
    else:
        matched = frame.merge(known, on="prediction_id", how="inner")
    unknown = sorted(set(frame["prediction_id"]) - set(matched["prediction_id"]))
    accepted = _check_labels(workspace, matched, refused) if len(matched) else matched
    result.unknown, result.unknown_ids = len(unknown), unknown[:MAX_REPORTED]
    refused.sort(key=lambda r: r["row"])
    result.refused_count, result.refused = len(refused), refused[:MAX_REPORTED]
    if strict and (unknown or refused):
        raise DataValidationError(
            f"Feedback refused (strict): {len(refused)} row(s) refused, {len(unknown)} unknown "
            "prediction id(s); nothing was written."
            + (f" First: row {refused[0]['row']}: {refused[0]['message']}." if refused else "")
            + (f" Unknown: {', '.join(unknown[:5])}." if unknown else ""),
            **result.to_dict(),
        )
    if len(accepted):
        result.files = workspace.logs.append(FEEDBACK_DATASET, _table(accepted))
    result.accepted = len(accepted)
    return result


def record_feedback_file(
    workspace: Workspace,
    path: str | os.PathLike[str],
    *,
    model: str | None = None,
    strict: bool = False,
) -> FeedbackResult:
    """Bulk feedback from a csv / parquet / json(l) file (or URI) with columns prediction_id,
    label."""
    from modelyard.data import read_dataset

    dataset = read_dataset(str(path), workspace, name="feedback", context="feedback")
    return record_feedback(workspace, dataset.frame, model=model, strict=strict)
