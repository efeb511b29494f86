"""Structured access logs: one JSON object per request, written in the background.

A request appends one small dict (no I/O, no formatting); a thread writes the lines every
``interval_s`` in one ``write`` call. Lines beyond ``max_lines`` waiting are dropped and counted
(the server never slows down for its own log).

    {"ts": "2026-01-31T12:00:00.123Z", "method": "POST", "path": "/v1/models/fraud/predict",
     "status": 200, "latency_ms": 1.32, "client": "127.0.0.1", "deployment": "fraud",
     "variant": "champion", "version": "3", "bytes": 187}
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from typing import IO, Any

__all__ = ["AccessLog"]


class AccessLog:
    def __init__(
        self, stream: IO[str] | None = None, *, interval_s: float = 0.5, max_lines: int = 100_000
    ) -> None:
        self.stream = stream
        self.interval_s = interval_s
        self.max_lines = max_lines
        self.dropped = 0
        self._lines: deque[dict[str, Any]] = deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="modelyard-access-log", daemon=True
            )
            self._thread.start()

    def add(self, entry: dict[str, Any]) -> None:
        if len(self._lines) >= self.max_lines:
            self.dropped += 1
            return
        self._lines.append(entry)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.flush()

    def flush(self) -> None:
        import orjson

        out = []
        lines = self._lines
        stamp = _Stamp()
        while lines:  # deque.popleft is atomic: requests keep appending meanwhile
            entry = lines.popleft()
            entry["ts"] = stamp(entry["ts"])
            out.append(orjson.dumps(entry).decode())
        if not out:
            return
        stream = self.stream or sys.stderr
        try:
            stream.write("\n".join(out) + "\n")
            stream.flush()
        except (OSError, ValueError):  # a closed stream: the log is best effort
            self.dropped += len(out)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.flush()


class _Stamp:
    """ISO-8601 UTC with milliseconds; the date-time part is formatted once per second."""

    def __init__(self) -> None:
        self.second = -1
        self.prefix = ""

    def __call__(self, ts: float) -> str:
        second = int(ts)
        if second != self.second:
            self.second = second
            self.prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self.prefix}.{int((ts - second) * 1000):03d}Z"
