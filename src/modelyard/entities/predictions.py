"""The prediction log's layout: what the model server writes and monitoring reads.

One row per scored input row, in Parquet files partitioned by model and date
(``predictions/model=NAME/date=YYYY-MM-DD/part-*.parquet``). The fixed columns come first; each
model input is one more column named ``input.<name>`` (its own type), so a drift check reads a
feature as one Arrow column, without parsing JSON.

Feedback (true labels that arrive later) is a second log, ``feedback/date=YYYY-MM-DD/``, joined
to predictions on ``prediction_id``.
"""

from __future__ import annotations

__all__ = [
    "FEEDBACK_DATASET",
    "FEEDBACK_FIELDS",
    "INPUT_PREFIX",
    "PREDICTION_DATASET",
    "PREDICTION_FIELDS",
    "STATUS_ERROR",
    "STATUS_OK",
    "TIME_COLUMN",
    "input_column",
    "input_name",
]

PREDICTION_DATASET = "predictions"
FEEDBACK_DATASET = "feedback"
TIME_COLUMN = "ts"
"""every log's event time: timestamp[ms, UTC]; the date partition is derived from it"""

STATUS_OK = "ok"
STATUS_ERROR = "error"

PREDICTION_FIELDS: dict[str, str] = {
    "prediction_id": "string: unique id returned to the client (feedback refers to it)",
    "ts": "timestamp[ms, UTC]: when the prediction was made",
    "model": "string: registered model name (also the partition key)",
    "version": "int64: model version that answered",
    "variant": "string: deployment variant (A/B arm, 'shadow' for shadow traffic)",
    "latency_ms": "float64: time spent in the server for this request",
    "status": "string: 'ok' or 'error'",
    "error": "string or null: the error class when status is 'error'",
    "prediction": "float64 for numeric outputs, string for string class labels; null on error",
    "proba": "float64 or null: probability of the positive (binary) or predicted class",
}

FEEDBACK_FIELDS: dict[str, str] = {
    "prediction_id": "string: the prediction this label belongs to",
    "ts": "timestamp[ms, UTC]: when the label was received",
    "label": "float64 for numeric labels, string otherwise",
}

INPUT_PREFIX = "input."


def input_column(name: str) -> str:
    """The log column holding model input ``name``."""
    return INPUT_PREFIX + name


def input_name(column: str) -> str | None:
    """The model input a log column holds, or None for a fixed column."""
    return column[len(INPUT_PREFIX) :] if column.startswith(INPUT_PREFIX) else None
