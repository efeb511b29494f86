"""The prediction log's layout: what the model server writes and monitoring reads.

One row per scored input row, in Parquet files partitioned by model and date
(``predictions/model=NAME/date=YYYY-MM-DD/part-*.parquet``). The fixed columns come first; each
model input is one more column named ``input.<name>`` (its own type), so a drift check reads a
feature as one Arrow column, without parsing JSON.

A request the server answered logs its rows under the variant that answered (an A/B arm, or
``default``). A deployment's shadow model scores the same rows afterwards; its rows are logged
with the same prediction ids under variant ``shadow`` (:data:`SHADOW_VARIANT`): they were never
returned to a client, so monitoring leaves them out of every window figure and shows them as a
group of their own.

Every row has a status: ``ok`` (answered), ``error`` (the server or the model failed: a model
error, a timeout, an open circuit breaker, an overloaded server; HTTP 5xx) or ``rejected`` (the
request was refused as the client's mistake: invalid rows 422, too large 413, rate limited
429). Monitoring's ``error_rate`` counts ``error`` rows among ``ok`` and ``error`` ones;
rejected requests are counted apart (``rejected_rate``).

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
    "SHADOW_VARIANT",
    "STATUS_ERROR",
    "STATUS_OK",
    "STATUS_REJECTED",
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
"""the server or the model failed (HTTP 5xx: model error, timeout, circuit open, overloaded)"""
STATUS_REJECTED = "rejected"
"""the client's mistake, refused (HTTP 4xx: invalid rows, too large, rate limited)"""

SHADOW_VARIANT = "shadow"
"""the variant of rows scored by a deployment's shadow model (never returned to a client)"""

PREDICTION_FIELDS: dict[str, str] = {
    "prediction_id": "string: unique id returned to the client (feedback refers to it)",
    "ts": "timestamp[ms, UTC]: when the prediction was made",
    "model": "string: registered model name (also the partition key)",
    "version": "int64: model version that answered",
    "variant": "string: deployment variant that answered (A/B arm), or 'shadow' for a row the "
    "shadow model scored (same prediction_id as the answered row; never returned)",
    "latency_ms": "float64: time spent in the server for this request (0 for shadow rows)",
    "status": "string: 'ok', 'error' (server or model failure, 5xx) or 'rejected' (the "
    "client's mistake, 4xx)",
    "error": "string or null: the error class when status is 'error' or 'rejected'",
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
