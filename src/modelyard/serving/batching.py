"""Adaptive micro-batching: concurrent requests for one model version, scored in one call.

One batcher per loaded model version, one worker task per batcher, one scoring thread per
batcher. The worker takes what is queued (up to ``max_batch_size`` rows); when more than one
request was waiting, requests are arriving together, so it lets the event loop run a few more
turns (at most ``max_latency_ms``) for the ones already on the wire to join. A lone request is
scored at once: at concurrency 1 batching adds nothing. While a batch is scored in the thread,
the loop keeps accepting requests, and they form the next batch.

The queue is bounded (``max_queue`` requests): a request beyond it is refused at once
(:class:`~modelyard.errors.OverloadedError`, HTTP 503) instead of waiting without bound.
A request whose caller gave up (timeout) is dropped from its batch before scoring.

Hand-written: asyncio has no batching queue, and the libraries that batch (Ray Serve's
``@serve.batch``) wait a fixed time even for a lone request.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from modelyard.errors import OverloadedError

__all__ = ["BatchOutcome", "MicroBatcher", "WorkItem"]


@dataclass(slots=True, eq=False)
class WorkItem:
    """One request's rows for one model version, and where its answer goes."""

    rows: list[list[Any]]
    keys: list[Any]
    """entity keys per row, when the model's features are fetched online"""
    future: asyncio.Future[Any]
    cache: Any = None
    arrived: float = field(default_factory=time.perf_counter)


@dataclass(slots=True)
class BatchOutcome:
    """What a scoring call produced: one result or exception per item, and whether the model
    itself failed (for the circuit breaker)."""

    results: list[Any]
    model_failed: bool = False


ScoreFn = Callable[[Sequence[WorkItem]], BatchOutcome]


class MicroBatcher:
    def __init__(
        self,
        score: ScoreFn,
        *,
        max_batch_size: int = 64,
        max_latency_ms: float = 2.0,
        max_queue: int = 1024,
        thread_name: str = "modelyard-score",
        thread_init: Callable[[], None] | None = None,
        on_batch: Callable[[int, float, bool], None] | None = None,
    ) -> None:
        self.score = score
        self.max_batch_size = max_batch_size
        self.max_latency_s = max_latency_ms / 1000.0
        self.max_queue = max_queue
        self.on_batch = on_batch
        self._queue: deque[WorkItem] = deque()
        self._wake: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=thread_name, initializer=thread_init
        )
        self.busy = False

    @property
    def depth(self) -> int:
        return len(self._queue)

    def submit(self, item: WorkItem) -> None:
        """Queue a request (on the event loop thread); refuses at once when the queue is full."""
        if self._closed and (self._task is None or self._task.done()):
            raise OverloadedError("This model version was unloaded; retry.", retry_after_s=1)
        if len(self._queue) >= self.max_queue:
            raise OverloadedError(
                f"The model's queue is full ({self.max_queue} requests waiting); retry shortly.",
                retry_after_s=1,
            )
        self._queue.append(item)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def close(self) -> None:
        """Score what is queued, then stop the worker and the thread (from the loop thread)."""
        self._closed = True
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)
        if self._task is None:
            self._executor.shutdown(wait=False)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                if not self._queue:
                    if self._closed:
                        return
                    self._wake = loop.create_future()
                    await self._wake
                    self._wake = None
                    continue
                batch = await self._collect(loop)
                if batch:
                    await self._score(loop, batch)
        finally:
            self._executor.shutdown(wait=False)

    async def _collect(self, loop: asyncio.AbstractEventLoop) -> list[WorkItem]:
        batch, rows = self._take([], 0)
        if len(batch) > 1 and rows < self.max_batch_size and self.max_latency_s > 0:
            # requests come together: give the ones already on the wire a few loop turns to
            # join, but never longer than max_latency_ms, and stop once a turn brings none
            deadline = loop.time() + self.max_latency_s
            while rows < self.max_batch_size and loop.time() < deadline:
                await asyncio.sleep(0)
                if not self._queue:
                    await asyncio.sleep(0)
                    if not self._queue:
                        break
                batch, rows = self._take(batch, rows)
        return [item for item in batch if not item.future.done()]

    def _take(self, batch: list[WorkItem], rows: int) -> tuple[list[WorkItem], int]:
        queue = self._queue
        while queue and (rows < self.max_batch_size or not batch):
            nxt = len(queue[0].rows)
            if batch and rows + nxt > self.max_batch_size:
                break
            batch.append(queue.popleft())
            rows += nxt
        return batch, rows

    async def _score(self, loop: asyncio.AbstractEventLoop, batch: list[WorkItem]) -> None:
        self.busy = True
        start = time.perf_counter()
        try:
            outcome = await loop.run_in_executor(self._executor, self.score, batch)
        except Exception as exc:  # the scoring function itself broke: fail this batch only
            outcome = BatchOutcome([exc] * len(batch), model_failed=True)
        finally:
            self.busy = False
        if self.on_batch is not None:
            size = sum(len(item.rows) for item in batch)
            self.on_batch(size, time.perf_counter() - start, outcome.model_failed)
        for item, result in zip(batch, outcome.results):
            if item.future.done():
                continue
            if isinstance(result, BaseException):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)
