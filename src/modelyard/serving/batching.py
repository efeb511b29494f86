"""Adaptive micro-batching: concurrent requests for one model version, scored in one call.

One batcher per loaded model version, one worker task per batcher, one scoring thread per
batcher. The worker takes what is queued (up to ``max_batch_size`` rows). When requests are
arriving together (more than one was waiting, or the last batch had more than one row), it
lets the batch fill up to the size recent batches reached (a decaying peak: about how many
requests are in flight) and beyond while requests keep coming, until its oldest request has
waited ``max_latency_ms``. A model call costs nearly the same for one row as for 64 (a tree
ensemble's per-call overhead dominates), so under load fewer, fuller calls leave more CPU for
requests; with 8 clients a batch of 8 goes half a millisecond after the last one is in. A
lone request is scored at once: at concurrency 1 batching adds nothing. While a batch is
scored in the thread, the loop keeps accepting requests, and they form the next batch.

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

_TICK_S = 5e-4
"""how often a filling batch looks for new requests"""


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
        max_latency_ms: float = 5.0,
        max_queue: int = 128,
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
        self._queued_rows = 0
        self._last_rows = 0
        self._peak = 1.0
        """the largest recent batch (rows), decaying: what a batch can expect to reach"""
        self._wake: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=thread_name, initializer=thread_init
        )

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
        self._queued_rows += len(item.rows)
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
        together = len(batch) > 1 or self._last_rows > 1  # requests are arriving together
        if together and self.max_latency_s > 0:
            # a model call costs nearly the same for 1 row or 64: let the batch fill to the
            # size recent batches reached (about how many requests are in flight), and past it
            # while requests keep arriving, until the oldest has waited max_latency_ms
            target = min(self.max_batch_size, max(2, round(self._peak)))
            deadline = batch[0].arrived + self.max_latency_s
            while rows < self.max_batch_size:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                await asyncio.sleep(min(remaining, _TICK_S))
                before = rows
                batch, rows = self._take(batch, rows)
                if rows >= target and rows == before:
                    break  # as big as recent batches, and a tick brought nobody: go
        self._last_rows = rows
        self._peak = max(float(rows), self._peak * 0.98)  # up at once, down slowly
        return [item for item in batch if not item.future.done()]

    def _take(self, batch: list[WorkItem], rows: int) -> tuple[list[WorkItem], int]:
        queue = self._queue
        while queue and (rows < self.max_batch_size or not batch):
            nxt = len(queue[0].rows)
            if batch and rows + nxt > self.max_batch_size:
                break
            batch.append(queue.popleft())
            rows += nxt
            self._queued_rows -= nxt
        return batch, rows

    async def _score(self, loop: asyncio.AbstractEventLoop, batch: list[WorkItem]) -> None:
        start = time.perf_counter()
        try:
            outcome = await loop.run_in_executor(self._executor, self.score, batch)
        except Exception as exc:  # the scoring function itself broke: fail this batch only
            outcome = BatchOutcome([exc] * len(batch), model_failed=True)
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
