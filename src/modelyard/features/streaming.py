"""The streaming processor: windowed aggregations of a Redis Stream, written online, with the
events logged offline.

One batch, in this order, so a crash anywhere loses nothing and counts nothing twice:

1. read events (first those this consumer received before and never acknowledged);
2. append the raw events to the view's offline log (file named after the batch's ids; the
   offline store drops duplicate stream ids, so a replayed batch adds nothing);
3. in ONE transaction of the online store: read each entity's window state, add the events
   (an id already in the state is a redelivery and is skipped), write the new states and the
   entities' rows (their events of the widest window: reads compute the aggregates at the read
   instant, see :mod:`modelyard.features.windows`) together;
4. acknowledge the events.

A crash before 3 replays the batch from scratch; between 3 and 4 the replay finds every id in
the states and writes nothing new. Several processors may share a consumer group: the state
update is atomic per batch (SQLite's write lock, Redis ``WATCH``/``MULTI``).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelyard.errors import InvalidArgumentError
from modelyard.features.definitions import FeatureView
from modelyard.features.push import to_epoch_ms
from modelyard.features.resolve import STREAM_ID_COLUMN, entity_key
from modelyard.features.windows import WINDOW_FIELD, WindowState, window_aggregates
from modelyard.storage import Workspace
from modelyard.storage.online import RowInput
from modelyard.storage.streams import StreamEvent

__all__ = ["StreamProcessor", "StreamStats"]

log = logging.getLogger("modelyard.features.streaming")


@dataclass
class StreamStats:
    events: int = 0
    applied_entities: int = 0
    dead_lettered: int = 0
    batches: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Event:
    id: str
    key: str
    keys: tuple[Any, ...]
    ts: int
    values: dict[str, float | None]


class StreamProcessor:
    """Consume ``view.stream`` in consumer group ``group`` as ``consumer``."""

    def __init__(
        self,
        workspace: Workspace,
        view: FeatureView,
        join_keys: Sequence[str],
        key_dtypes: Sequence[str],
        *,
        group: str | None = None,
        consumer: str | None = None,
        batch_size: int = 500,
        claim_idle_ms: int = 60_000,
        start: str = "0",
    ) -> None:
        if view.stream is None:
            raise InvalidArgumentError(
                f"Feature view {view.name!r} has no stream; declare `stream: {{name: ...}}` "
                "and aggregations on it.",
                view=view.name,
            )
        self.workspace = workspace
        self.view = view
        self.join_keys = tuple(join_keys)
        self.key_dtypes = tuple(key_dtypes)
        self.group = group or f"modelyard:{view.name}"
        self.consumer = consumer or socket.gethostname()
        self.batch_size = batch_size
        self.claim_idle_ms = claim_idle_ms
        self.start = start
        self.stream = workspace.stream(view.stream.name, view.stream.url)
        self.aggregates = window_aggregates(view)
        self.columns = sorted({a.column for a in view.aggregations if a.column})
        self.horizon_ms = max(a.window_ms for a in self.aggregates)
        self.stats = StreamStats()

    # -- the loop ---------------------------------------------------------------------------
    def run(
        self,
        *,
        until_idle: bool = False,
        stop: threading.Event | None = None,
        on_batch: Callable[[StreamStats], None] | None = None,
    ) -> StreamStats:
        """Process until ``stop`` is set (or, with ``until_idle``, until no event is waiting)."""
        self.stream.ensure_group(self.group, self.start)
        while batch := self.stream.read(self.group, self.consumer, self.batch_size, pending=True):
            self.process(batch)  # what this consumer left unacknowledged last time
            if on_batch:
                on_batch(self.stats)
        while stop is None or not stop.is_set():
            batch = self.stream.claim(
                self.group, self.consumer, self.claim_idle_ms, self.batch_size
            ) or self.stream.read(self.group, self.consumer, self.batch_size)
            if batch:
                self.process(batch)
                if on_batch:
                    on_batch(self.stats)
            elif until_idle:
                break
        return self.stats

    def process(self, batch: Sequence[StreamEvent]) -> int:
        """Apply one batch, then acknowledge it. Returns the entities written."""
        written = self.apply(batch)
        self.stream.ack(self.group, [e.id for e in batch])
        return written

    def apply(self, batch: Sequence[StreamEvent]) -> int:
        """Steps 2-3 (log the events; update states and rows in one transaction), without the
        acknowledgement: applying a batch twice changes nothing the second time."""
        events, bad = [], []
        for raw in batch:
            try:
                events.append(self._parse(raw))
            except (ValueError, TypeError, KeyError) as exc:
                bad.append((raw, f"{type(exc).__name__}: {exc}"))
        for raw, reason in bad:
            log.warning("stream %s: dead-lettering %s: %s", self.stream.stream, raw.id, reason)
            self.stream.dead_letter(raw, reason)
        written = 0
        if events:
            self._log(events)
            grouped: dict[str, list[_Event]] = {}
            for e in events:
                grouped.setdefault(e.key, []).append(e)
            written = self.workspace.online.transact(
                self.view.name, list(grouped), self._updater(grouped)
            )
        self.stats.events += len(batch)
        self.stats.dead_lettered += len(bad)
        self.stats.applied_entities += written
        self.stats.batches += 1
        return written

    # -- steps ------------------------------------------------------------------------------
    def _parse(self, raw: StreamEvent) -> _Event:
        fields = raw.fields
        keys = []
        for k, dtype in zip(self.join_keys, self.key_dtypes):
            value = fields[k]
            keys.append(int(value) if dtype == "int64" else value)
        ts_text = fields.get(self.view.timestamp_field)
        if ts_text is None:
            ts = int(raw.id.split("-", 1)[0])  # no event time: the time Redis received it
        elif ts_text.lstrip("-").isdigit():
            ts = int(ts_text)
        else:
            ts = to_epoch_ms(ts_text)
        values: dict[str, float | None] = {}
        for c in self.columns:
            text = fields.get(c)
            values[c] = None if text in (None, "", "null", "None") else float(text)
        return _Event(raw.id, entity_key(keys), tuple(keys), ts, values)

    def _log(self, events: Sequence[_Event]) -> None:
        import pyarrow as pa

        key_types = {"int64": pa.int64(), "string": pa.string()}
        table = pa.table(
            {
                **{
                    k: pa.array([e.keys[i] for e in events], type=key_types[dtype])
                    for i, (k, dtype) in enumerate(zip(self.join_keys, self.key_dtypes))
                },
                self.view.timestamp_field: pa.array(
                    [e.ts * 1000 for e in events], type=pa.timestamp("us")
                ),
                **{
                    c: pa.array([e.values[c] for e in events], type=pa.float64())
                    for c in self.columns
                },
                STREAM_ID_COLUMN: pa.array([e.id for e in events], type=pa.string()),
            }
        )
        name = f"{events[0].id}_{events[-1].id}_{len(events)}"
        self.workspace.offline.append_log(self.view.name, table, name=name)

    def _updater(
        self, grouped: Mapping[str, Sequence[_Event]]
    ) -> Callable[[dict[str, str | None]], tuple[list[RowInput], dict[str, str]]]:
        def update(states: dict[str, str | None]) -> tuple[list[RowInput], dict[str, str]]:
            rows: list[RowInput] = []
            new_states: dict[str, str] = {}
            for key, events in grouped.items():
                state = WindowState.loads(states.get(key))
                changed = False
                for e in events:
                    changed |= state.add(e.ts, e.id, e.values, self.horizon_ms)
                if changed and state.latest is not None:
                    window = state.snapshot(self.columns, self.horizon_ms)
                    rows.append((key, state.latest, {WINDOW_FIELD: window}))
                    new_states[key] = state.dumps()
            return rows, new_states

        return update

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Wait until the group has no undelivered and no unacknowledged event."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            lag, pending = self.stream.backlog(self.group)
            if lag == 0 and pending == 0:
                return True
            time.sleep(0.05)
        return False
