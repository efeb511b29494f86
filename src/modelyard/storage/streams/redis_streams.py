"""A Redis Stream and its consumer groups (XADD / XREADGROUP / XAUTOCLAIM / XACK)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelyard.errors import StoreUnavailableError
from modelyard.storage.metadata import redact
from modelyard.storage.online import redis_client

__all__ = ["RedisEventStream", "StreamEvent"]


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One stream entry: its id (``<ms>-<seq>``) and its fields, decoded as text."""

    id: str
    fields: Mapping[str, str]


def _events(entries: Sequence[Any]) -> list[StreamEvent]:
    out = []
    for entry_id, fields in entries:
        if fields is None:  # deleted from the stream while pending
            continue
        out.append(
            StreamEvent(entry_id.decode(), {k.decode(): v.decode() for k, v in fields.items()})
        )
    return out


class RedisEventStream:
    """The stream named ``stream`` on the Redis server at ``url``."""

    def __init__(self, url: str, stream: str, *, block_ms: int = 1000) -> None:
        self.url = url
        self.stream = stream
        self.block_ms = block_ms
        self.client = redis_client(url, socket_timeout=block_ms / 1000 + 10)

    def _call(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        import redis

        try:
            return func(*args, **kwargs)
        except redis.ConnectionError as exc:
            raise StoreUnavailableError(
                f"Cannot reach the Redis server of stream {self.stream!r} at {redact(self.url)}: "
                f"{exc}. Start Redis or fix the stream's url.",
                url=redact(self.url),
            ) from exc

    def ensure_group(self, group: str, start: str = "0") -> None:
        """Create the consumer group (and the stream) unless it exists; a new group starts at
        ``start`` (``0``: the whole stream, ``$``: only new events)."""
        import redis

        try:
            self._call(self.client.xgroup_create, self.stream, group, id=start, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(
        self, group: str, consumer: str, count: int, *, pending: bool = False, block: bool = True
    ) -> list[StreamEvent]:
        """New events for ``consumer`` (or, with ``pending``, those it received and never
        acknowledged: what a crash left behind)."""
        reply = self._call(
            self.client.xreadgroup,
            group,
            consumer,
            {self.stream: "0" if pending else ">"},
            count=count,
            block=None if pending or not block else self.block_ms,
        )
        return _events(reply[0][1]) if reply else []

    def claim(self, group: str, consumer: str, min_idle_ms: int, count: int) -> list[StreamEvent]:
        """Take over events another consumer received but did not acknowledge for
        ``min_idle_ms`` (it probably died)."""
        reply = self._call(
            self.client.xautoclaim, self.stream, group, consumer, min_idle_ms, "0-0", count=count
        )
        return _events(reply[1])

    def ack(self, group: str, ids: Sequence[str]) -> int:
        return int(self._call(self.client.xack, self.stream, group, *ids)) if ids else 0

    def add(self, fields: Mapping[str, Any]) -> str:
        return str(self._call(self.client.xadd, self.stream, dict(fields)).decode())

    def add_many(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        pipe = self.client.pipeline(transaction=False)
        for fields in rows:
            pipe.xadd(self.stream, dict(fields))
        return [i.decode() for i in self._call(pipe.execute)]

    def dead_letter(self, event: StreamEvent, error: str) -> None:
        """Keep an event that cannot be processed in ``<stream>:dead`` with the reason."""
        self._call(
            self.client.xadd,
            f"{self.stream}:dead",
            {**event.fields, "_id": event.id, "_error": error[:1000]},
        )

    def backlog(self, group: str) -> tuple[int, int]:
        """(events not yet delivered to the group, events delivered but not acknowledged)."""
        for info in self._call(self.client.xinfo_groups, self.stream):
            if info["name"].decode() == group:
                lag = info.get("lag")
                return (int(lag) if lag is not None else -1), int(info["pending"])
        return -1, 0

    def close(self) -> None:
        self.client.close()
