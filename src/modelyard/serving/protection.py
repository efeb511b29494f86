"""Load protection: a token bucket per client, a circuit breaker per model version, and the
event loop's lag (how late a timer fires), which says when the process itself is overloaded.

Both are hand-written (a few lines each): the libraries that exist are either asyncio-unaware
or add a lock and a call per request that the hot path cannot afford. Everything here runs on
the server's event loop thread, so no lock is needed.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["CircuitBreaker", "LoopLag", "RateLimiter"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """``rate`` requests per second per client, up to ``burst`` at once (token bucket).

    At most ``max_clients`` buckets are kept (least recently seen forgotten first: a forgotten
    client starts again with a full bucket, which errs on the side of serving)."""

    def __init__(
        self, *, rate: float, burst: int | None = None, max_clients: int = 100_000
    ) -> None:
        self.rate = float(rate)
        self.burst = float(burst or max(1, math.ceil(rate)))
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def acquire(self, client: str, now: float | None = None) -> float:
        """Take one token: 0.0 when allowed, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
            self._buckets[client] = bucket
            if len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(client)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate


CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    """After ``failures`` failed calls in a row the circuit opens: calls are refused for
    ``reset_s``; then one trial call is let through (half-open): success closes the circuit,
    failure opens it again for another ``reset_s``."""

    def __init__(self, *, failures: int, reset_s: float) -> None:
        self.threshold = failures
        self.reset_s = reset_s
        self.failures = 0
        self.state = CLOSED
        self.opened_at = 0.0
        self._trial_out = False
        self._trial_at = 0.0

    def allow(self, now: float | None = None) -> float:
        """0.0 when a call may go ahead, else the seconds until the next trial."""
        if self.state == CLOSED:
            return 0.0
        now = time.monotonic() if now is None else now
        wait = self.opened_at + self.reset_s - now
        if self.state == OPEN and wait <= 0:
            self.state = HALF_OPEN
            self._trial_out = False
        if self.state == HALF_OPEN and (
            not self._trial_out or now - self._trial_at > self.reset_s  # a trial never answered
        ):
            self._trial_out, self._trial_at = True, now
            return 0.0
        return max(wait, 0.001)

    def record(self, ok: bool, now: float | None = None) -> None:
        if ok:
            self.failures = 0
            self.state = CLOSED
            self._trial_out = False
            return
        self.failures += 1
        if self.state == HALF_OPEN or self.failures >= self.threshold:
            self.state = OPEN
            self.opened_at = time.monotonic() if now is None else now
            self._trial_out = False

    @property
    def is_open(self) -> bool:
        return self.state != CLOSED


class LoopLag:
    """How late the event loop runs a timer: the wait a request that arrives now will have.

    When the process gets more requests than it can parse, they wait in the loop before any
    handler sees them, so no queue of ours grows; the loop's lag does. While the lag, smoothed
    over a few samples (one stall, a garbage collection, is not overload), is above
    ``limit_s``, requests are refused (503, before parsing) in proportion to the excess, so the
    backlog and the latency stay bounded while the process keeps serving at capacity."""

    def __init__(self, *, limit_s: float, interval_s: float = 0.005) -> None:
        self.limit_s = limit_s
        self.interval_s = interval_s
        self.lag_s = 0.0
        self._task: asyncio.Task[None] | None = None
        self._random = random.Random()

    @property
    def overloaded(self) -> bool:
        return self.lag_s > self.limit_s

    def admit(self) -> bool:
        """Whether to take one more request: always below the limit; above it, with the
        probability limit / lag, so only the excess is refused (refusing everything while the
        loop catches up would let throughput collapse and lag swing back and forth)."""
        lag = self.lag_s
        if self.limit_s <= 0 or lag <= self.limit_s:
            return True
        return self._random.random() < self.limit_s / lag

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.interval_s)
            sample = max(0.0, loop.time() - start - self.interval_s)
            self.lag_s = 0.8 * self.lag_s + 0.2 * sample

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
