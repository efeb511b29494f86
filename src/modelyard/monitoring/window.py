"""Reading a window of the prediction log and joining it with the feedback (true labels).

A window holds the rows a client was answered with (every A/B variant and version of the model,
failed and rejected requests included), never the shadow model's: a shadow row carries the id of
the answered row it shadows, so counting it would count each request (and each label) twice.
:func:`read_shadow` reads the shadow rows of a window apart, and :meth:`Window.scored_by` keeps
the rows one version answered (drift tests a version's profile against those only).

The join and the de-duplication of corrected labels run in DuckDB over the Arrow tables: no
Python loop per row. A prediction with several labels takes the latest one (a correction wins).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.entities.predictions import (
    FEEDBACK_DATASET,
    INPUT_PREFIX,
    PREDICTION_DATASET,
    SHADOW_VARIANT,
    TIME_COLUMN,
    input_name,
)
from modelyard.monitoring.spec import WindowSpec
from modelyard.storage import Workspace

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

__all__ = [
    "Window",
    "arrow_table",
    "features_frame",
    "labelled",
    "now_utc",
    "read_feedback",
    "read_shadow",
    "read_window",
    "shadow_rows",
]


def now_utc(now: dt.datetime | None = None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    return now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)


def _ms(value: dt.datetime) -> int:
    return int(value.timestamp() * 1000)


@dataclass(frozen=True)
class Window:
    """The answered predictions of one window (None when the log has no such row in it); shadow
    rows are not in it (see :func:`read_shadow`)."""

    model: str
    spec: WindowSpec
    table: pa.Table | None
    end: int
    """ms; rows are before this time"""

    def scored_by(self, version: int) -> pa.Table | None:
        """The rows model version ``version`` answered (None when it answered none)."""
        import pyarrow.compute as pc

        if self.table is None:
            return None
        same = pc.fill_null(pc.equal(self.table.column("version"), version), False)
        rows = self.table.filter(same)
        return rows if rows.num_rows else None

    @property
    def rows(self) -> int:
        return 0 if self.table is None else self.table.num_rows

    @property
    def start(self) -> int | None:
        """The first row's time (ms), or the span's start."""
        if self.table is not None and self.table.num_rows:
            import pyarrow.compute as pc

            first = pc.min(self.table.column(TIME_COLUMN)).as_py()
            return _ms(first)
        span = self.spec.span_ms
        return self.end - span if span is not None else None

    @property
    def input_columns(self) -> list[str]:
        if self.table is None:
            return []
        return [c for c in self.table.column_names if c.startswith(INPUT_PREFIX)]


def read_window(
    workspace: Workspace, model: str, spec: WindowSpec, *, now: dt.datetime | None = None
) -> Window:
    """The newest ``spec.last`` predictions of ``model`` before ``now``, or those of the last
    ``spec.span``."""
    end = now_utc(now) + dt.timedelta(milliseconds=1)
    log = workspace.logs
    partition = {"model": model}
    answered = shadow_rows(False)
    if spec.last is not None:
        table = log.read(
            PREDICTION_DATASET, partition=partition, end=end, last=spec.last, where=answered
        )
    else:
        start = end - dt.timedelta(milliseconds=spec.span_ms or 0)
        table = log.read(
            PREDICTION_DATASET, partition=partition, start=start, end=end, where=answered
        )
    if table is not None and table.num_rows == 0:
        table = None
    return Window(model, spec, table, _ms(end))


def read_shadow(
    workspace: Workspace, window: Window, *, columns: list[str] | None = None
) -> pa.Table | None:
    """The shadow model's rows for the requests of ``window`` (same prediction ids), or None."""
    import pyarrow.compute as pc

    if window.table is None:
        return None
    start = dt.datetime.fromtimestamp((window.start or 0) / 1000, tz=dt.UTC)
    end = dt.datetime.fromtimestamp(window.end / 1000, tz=dt.UTC)
    read = None if columns is None else list(dict.fromkeys([*columns, "prediction_id", "variant"]))
    table = workspace.logs.read(
        PREDICTION_DATASET,
        partition={"model": window.model},
        start=start,
        end=end,
        columns=read,
        where=shadow_rows(True),
    )
    if table is None:
        return None
    ids = window.table.column("prediction_id").combine_chunks()
    table = table.filter(pc.is_in(table.column("prediction_id"), value_set=ids))
    return table if table.num_rows else None


def shadow_rows(wanted: bool) -> pc.Expression:
    """Rows of the shadow model (``wanted``) or every other row (a null variant included)."""
    import pyarrow.compute as pc

    variant = pc.field("variant")
    if wanted:
        return variant == SHADOW_VARIANT
    return variant.is_null() | (variant != SHADOW_VARIANT)


def read_feedback(workspace: Workspace, *, start: int | None = None) -> pa.Table | None:
    """The feedback log (prediction_id, ts, label) from ``start`` (ms) on."""
    return workspace.logs.read(
        FEEDBACK_DATASET, start=start, columns=["prediction_id", TIME_COLUMN, "label"]
    )


def labelled(
    predictions: pa.Table, feedback: pa.Table | None, *, columns: list[str] | None = None
) -> pa.Table:
    """The predictions that have a label, with a ``label`` column of the prediction's type (a
    label that cannot be read as that type is dropped), newest prediction last.

    ``columns``: the prediction columns to keep (default: all)."""
    import duckdb
    import pyarrow as pa

    keep = columns or predictions.column_names
    if feedback is None or feedback.num_rows == 0 or predictions.num_rows == 0:
        empty = predictions.select(keep).slice(0, 0)
        label_type = _label_type(predictions)
        return empty.append_column("label", pa.array([], type=label_type))
    cast = "VARCHAR" if pa.types.is_string(_label_type(predictions)) else "DOUBLE"
    con = duckdb.connect()
    try:
        con.register("p", predictions.select(list(dict.fromkeys([*keep, "prediction_id", "ts"]))))
        con.register("f", feedback)
        selected = ", ".join(f'p."{c}"' for c in keep)
        # A label is the latest one given for that prediction (a correction replaces it).
        result = con.sql(
            f"""
            WITH latest AS (
                SELECT prediction_id, arg_max(label, ts) AS label
                FROM f WHERE label IS NOT NULL GROUP BY prediction_id
            )
            SELECT {selected}, TRY_CAST(latest.label AS {cast}) AS label
            FROM p JOIN latest USING (prediction_id)
            WHERE TRY_CAST(latest.label AS {cast}) IS NOT NULL
            ORDER BY p.ts
            """
        )
        return arrow_table(result)
    finally:
        con.close()


def arrow_table(result: Any) -> pa.Table:
    """A DuckDB result as an Arrow table (the method's name changed in DuckDB 1.4)."""
    to_table = getattr(result, "to_arrow_table", None) or result.fetch_arrow_table
    return to_table()


def _label_type(predictions: pa.Table) -> pa.DataType:
    import pyarrow as pa

    if "prediction" in predictions.column_names and pa.types.is_string(
        predictions.column("prediction").type
    ):
        return pa.string()
    return pa.float64()


def features_frame(table: pa.Table) -> pd.DataFrame:
    """The model inputs of log rows as a DataFrame with the inputs' own names."""
    columns = [c for c in table.column_names if input_name(c) is not None]
    frame = table.select(columns).to_pandas()
    frame.columns = [input_name(c) or c for c in columns]
    return frame
