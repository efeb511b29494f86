"""The prediction log writer: every answered (or failed) row, appended in the background.

Requests hand over one small chunk each (no I/O, no Arrow); a background thread turns the
chunks into one Arrow table per model every ``flush_interval_s`` (or as soon as ``flush_rows``
wait) and appends it to the event log (``predictions/model=NAME/date=YYYY-MM-DD/``, the layout
of :mod:`modelyard.entities.predictions`). Memory is bounded: beyond ``max_buffer_rows``
waiting rows, new rows are dropped and counted, never queued. A failed write is logged and
counted; it never reaches a request. :meth:`close` flushes what is left.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from modelyard.entities.predictions import PREDICTION_DATASET, input_column

__all__ = ["LogChunk", "PredictionLogger"]

log = logging.getLogger("modelyard.serving")


class EventSink(Protocol):
    def append(self, dataset: str, table: Any, *, partition: dict[str, str] | None = None) -> Any:
        pass


@dataclass(slots=True)
class LogChunk:
    """The rows of one request scored by one model version."""

    ts_ms: int
    model: str
    version: int
    variant: str
    ids: Sequence[str]
    names: Sequence[str]
    """the model's input names (the order of each row's values)"""
    types: Sequence[str]
    """their signature types (float, integer, boolean, string, category, datetime)"""
    rows: Sequence[Sequence[Any]] | None
    """input values per row; None when the request could not be read into rows"""
    predictions: Sequence[Any] | None
    proba: Sequence[Sequence[float] | None] | None
    latency_ms: float
    status: str
    error: str | None = None

    @property
    def size(self) -> int:
        return len(self.ids)


class PredictionLogger:
    def __init__(
        self,
        sink: EventSink,
        *,
        flush_interval_s: float = 5.0,
        flush_rows: int = 20_000,
        max_buffer_rows: int = 200_000,
        convert_interval_s: float = 0.1,
        on_written: Callable[[int], None] | None = None,
        on_dropped: Callable[[int], None] | None = None,
    ) -> None:
        self.sink = sink
        self.flush_interval_s = flush_interval_s
        self.flush_rows = flush_rows
        self.max_buffer_rows = max_buffer_rows
        self.convert_interval_s = min(convert_interval_s, flush_interval_s)
        self.on_written = on_written
        self.on_dropped = on_dropped
        self.written = 0
        self.dropped = 0
        self._chunks: list[LogChunk] = []
        self._tables: dict[str, list[tuple[Any, int]]] = defaultdict(list)
        self._rows = 0
        """rows held: waiting chunks and converted tables not yet written"""
        self._cond = threading.Condition(threading.Lock())
        self._io = threading.Lock()
        self._closing = False
        self._thread: threading.Thread | None = None

    @property
    def buffered(self) -> int:
        return self._rows

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="modelyard-prediction-log", daemon=True
            )
            self._thread.start()

    def append(self, chunk: LogChunk) -> bool:
        """Queue a chunk; False (and counted) when the buffer is full or the log is closed."""
        n = chunk.size
        with self._cond:
            if self._closing or self._rows + n > self.max_buffer_rows:
                self.dropped += n
                accepted = False
            else:
                self._chunks.append(chunk)
                self._rows += n
                accepted = True
        if not accepted and self.on_dropped is not None:
            self.on_dropped(n)
        return accepted

    def flush(self) -> int:
        """Write every waiting row now (from any thread); returns the rows written."""
        with self._io:
            self._convert()
            tables, self._tables = self._tables, defaultdict(list)
            return self._write(tables)

    def close(self, timeout: float = 30.0) -> None:
        """Stop taking rows, write the rest, stop the thread."""
        self._closing = True
        with self._cond:
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        """Every ``convert_interval_s``, turn the waiting chunks into Arrow tables (a few
        milliseconds of work at a time, so requests never wait long for the GIL); every
        ``flush_interval_s`` (or once ``flush_rows`` are held), write them."""
        deadline = time.monotonic() + self.flush_interval_s
        while not self._closing:
            with self._cond:
                self._cond.wait(self.convert_interval_s)
            if self._closing:
                break
            with self._io:
                self._convert()
            if self._rows >= self.flush_rows or time.monotonic() >= deadline:
                self.flush()
                deadline = time.monotonic() + self.flush_interval_s

    def _convert(self) -> None:
        with self._cond:
            chunks, self._chunks = self._chunks, []
        by_model: dict[str, list[LogChunk]] = defaultdict(list)
        for chunk in chunks:
            by_model[chunk.model].append(chunk)
        for model, group in by_model.items():
            rows = sum(c.size for c in group)
            try:
                self._tables[model].append((to_table(group), rows))
            except Exception:
                log.exception("could not convert %d prediction-log rows of %s", rows, model)
                self._lost(rows)

    def _write(self, tables: dict[str, list[tuple[Any, int]]]) -> int:
        import pyarrow as pa

        total = 0
        for model, parts in tables.items():
            rows = sum(n for _, n in parts)
            try:
                try:
                    table = pa.concat_tables([t for t, _ in parts], promote_options="permissive")
                    self.sink.append(PREDICTION_DATASET, table, partition={"model": model})
                except pa.ArrowInvalid:  # e.g. predictions numeric in one part, text in another
                    for part, _ in parts:
                        self.sink.append(PREDICTION_DATASET, part, partition={"model": model})
            except Exception:
                log.exception("could not write %d prediction-log rows of %s", rows, model)
                self._lost(rows)
                continue
            with self._cond:
                self._rows -= rows
            total += rows
        self.written += total
        if self.on_written is not None and total:
            self.on_written(total)
        return total

    def _lost(self, rows: int) -> None:
        with self._cond:
            self._rows -= rows
        self.dropped += rows
        if self.on_dropped is not None:
            self.on_dropped(rows)


_ARROW_TYPES = {
    "float": "float64",
    "integer": "int64",
    "boolean": "bool_",
    "string": "string",
    "category": "string",
    "datetime": "string",
}


def to_table(chunks: Sequence[LogChunk]) -> Any:
    """One Arrow table in the prediction-log layout (fixed columns, then ``input.<name>``)."""
    import pyarrow as pa

    ids: list[str] = []
    ts: list[int] = []
    versions: list[int] = []
    variants: list[str] = []
    latency: list[float] = []
    status: list[str] = []
    errors: list[str | None] = []
    predictions: list[Any] = []
    proba: list[float | None] = []
    for c in chunks:
        n = c.size
        ids.extend(c.ids)
        ts.extend([c.ts_ms] * n)
        versions.extend([c.version] * n)
        variants.extend([c.variant] * n)
        latency.extend([c.latency_ms] * n)
        status.extend([c.status] * n)
        errors.extend([c.error] * n)
        predictions.extend(c.predictions if c.predictions is not None else [None] * n)
        proba.extend([_one_proba(p) for p in c.proba] if c.proba is not None else [None] * n)
    columns: dict[str, Any] = {
        "prediction_id": pa.array(ids, pa.string()),
        "ts": pa.array(ts, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
        "model": pa.array([chunks[0].model] * len(ids), pa.string()),
        "version": pa.array(versions, pa.int64()),
        "variant": pa.array(variants, pa.string()),
        "latency_ms": pa.array(latency, pa.float64()),
        "status": pa.array(status, pa.string()),
        "error": pa.array(errors, pa.string()),
        "prediction": _prediction_array(predictions),
        "proba": pa.array(proba, pa.float64()),
    }
    columns.update(_inputs(chunks, len(ids)))
    return pa.table(columns)


def _one_proba(row: Sequence[float] | None) -> float | None:
    """The positive class's probability (binary) or the predicted class's (multiclass)."""
    if row is None or len(row) == 0:
        return None
    return float(row[1]) if len(row) == 2 else float(max(row))


def _prediction_array(values: list[Any]) -> Any:
    import pyarrow as pa

    numeric = all(v is None or isinstance(v, (int, float)) for v in values)
    if numeric:
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    return pa.array([None if v is None else str(v) for v in values], pa.string())


def _inputs(chunks: Sequence[LogChunk], total: int) -> dict[str, Any]:
    import pyarrow as pa

    kinds: dict[str, str] = {}
    for c in chunks:
        for name, kind in zip(c.names, c.types):
            kinds.setdefault(name, kind)
    names = list(kinds)
    if all(list(c.names) == names and c.rows is not None for c in chunks):
        # the usual case: one layout; transpose every row at once (C-level zip)
        rows = [row for c in chunks for row in c.rows]  # type: ignore[union-attr]
        values = dict(zip(names, (list(col) for col in zip(*rows)))) if rows else {}
    else:
        values = {name: [] for name in names}
        for c in chunks:
            index = {name: i for i, name in enumerate(c.names)}
            for name, out in values.items():
                i = index.get(name)
                if c.rows is None or i is None:
                    out.extend([None] * c.size)
                else:
                    out.extend([row[i] for row in c.rows])
    columns = {}
    for name in names:
        vals = values.get(name, [None] * total)
        kind = _ARROW_TYPES.get(kinds[name], "")
        column_type = getattr(pa, kind)() if kind else None
        if kind == "string":
            vals = [None if v is None else str(v) for v in vals]
        try:
            columns[input_column(name)] = pa.array(vals, column_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            columns[input_column(name)] = pa.array([None if v is None else str(v) for v in vals])
    assert all(len(c) == total for c in columns.values())
    return columns
