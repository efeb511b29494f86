"""The server's parts on their own: token bucket, circuit breaker, router, cache, prediction
log (bounded, never raising), access log."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from modelyard.config import Settings
from modelyard.serving.accesslog import AccessLog
from modelyard.serving.cache import MemoryCache
from modelyard.serving.predlog import LogChunk, PredictionLogger
from modelyard.serving.protection import CircuitBreaker, RateLimiter
from modelyard.serving.traffic import Router, key_fraction
from modelyard.storage import Workspace


def test_token_bucket() -> None:
    limiter = RateLimiter(rate=2.0, burst=3)
    assert [limiter.acquire("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a", now=0.0) == pytest.approx(0.5)  # one token every 0.5 s
    assert limiter.acquire("b", now=0.0) == 0.0  # every client has its own bucket
    assert limiter.acquire("a", now=0.5) == 0.0
    assert limiter.acquire("a", now=0.5) > 0
    assert [limiter.acquire("a", now=100.0) for _ in range(4)][:3] == [0.0] * 3  # refilled to 3
    small = RateLimiter(rate=1.0, max_clients=2)
    for client in "xyz":
        small.acquire(client, now=0.0)
    assert len(small._buckets) == 2


def test_circuit_breaker() -> None:
    breaker = CircuitBreaker(failures=2, reset_s=10.0)
    breaker.record(False, now=0.0)
    assert breaker.allow(now=0.0) == 0.0
    breaker.record(False, now=1.0)
    assert breaker.is_open and breaker.allow(now=2.0) == pytest.approx(9.0)
    assert breaker.allow(now=11.0) == 0.0  # half-open: one trial
    assert breaker.allow(now=11.0) > 0  # ... and only one
    breaker.record(False, now=11.5)  # the trial failed: open again
    assert breaker.allow(now=12.0) == pytest.approx(9.5)
    assert breaker.allow(now=21.6) == 0.0
    breaker.record(True)
    assert not breaker.is_open and breaker.allow() == 0.0
    lost = CircuitBreaker(failures=1, reset_s=1.0)
    lost.record(False, now=0.0)
    assert lost.allow(now=1.5) == 0.0  # a trial that never reports back ...
    assert lost.allow(now=2.0) > 0
    assert lost.allow(now=2.6) == 0.0  # ... is replaced after reset_s


def test_router_weights_and_stickiness() -> None:
    router = Router(["a", "b", "c"], [1, 0, 3], salt="dep")
    picks = [router.pick() for _ in range(4000)]
    assert picks.count("b") == 0
    assert abs(picks.count("a") / 4000 - 0.25) < 0.03
    assert all(router.pick(f"user{i}") == router.pick(f"user{i}") for i in range(100))
    assert Router(["a", "b", "c"], [1, 0, 3], salt="dep").pick("user7") == router.pick("user7")
    assert 0.0 <= key_fraction("x") < 1.0 and key_fraction("x") != key_fraction("x", "salt")
    assert Router(["only"], [5]).pick("k") == "only"
    sample = Router(["a", "b"], [1, 1])
    share = sum(sample.sample(0.2, f"k{i}") for i in range(5000)) / 5000
    assert abs(share - 0.2) < 0.03


def test_memory_cache_is_a_bounded_lru() -> None:
    cache = MemoryCache(max_entries=2)
    cache.set_many([(b"a", (1, None)), (b"b", (2, None))])
    assert cache.get_many([b"a"]) == [(1, None)]  # a is now the most recent
    cache.set_many([(b"c", (3, None))])
    assert cache.get_many([b"a", b"b", b"c"]) == [(1, None), None, (3, None)]
    assert len(cache) == 2
    expiring = MemoryCache(max_entries=10, ttl_s=0.0001)
    expiring.set_many([(b"a", (1, None))])
    import time

    time.sleep(0.01)
    assert expiring.get_many([b"a"]) == [None]


def _chunk(n: int, model: str = "m", status: str = "ok") -> LogChunk:
    return LogChunk(
        ts_ms=1_767_225_600_000,
        model=model,
        version=3,
        variant="a",
        ids=[f"id{i}" for i in range(n)],
        names=["x", "c"],
        types=["float", "category"],
        rows=[[float(i), "web"] for i in range(n)],
        predictions=["yes"] * n if status == "ok" else None,
        proba=[[0.2, 0.8]] * n if status == "ok" else None,
        latency_ms=1.5,
        status=status,
        error=None if status == "ok" else "ModelFailedError",
    )


def test_prediction_log_is_bounded_and_flushes(tmp_path: Path) -> None:
    ws = Workspace(Settings.resolve(home=str(tmp_path / "home")))
    dropped: list[int] = []
    logger = PredictionLogger(
        ws.logs,
        flush_interval_s=3600,
        flush_rows=10**6,
        max_buffer_rows=5,
        on_dropped=dropped.append,
    )
    logger.start()
    assert logger.append(_chunk(3))
    assert not logger.append(_chunk(3))  # 6 > 5: dropped and counted, not queued
    assert logger.append(_chunk(2, status="error"))
    assert logger.buffered == 5 and dropped == [3]
    logger.close()
    assert logger.buffered == 0 and logger.written == 5
    table = ws.logs.read("predictions", partition={"model": "m"})
    assert table is not None
    rows = table.to_pylist()
    assert [r["prediction"] for r in rows] == ["yes"] * 3 + [None] * 2
    assert rows[0]["proba"] == 0.8 and rows[0]["input.c"] == "web" and rows[2]["input.x"] == 2.0
    assert rows[4]["status"] == "error" and rows[4]["error"] == "ModelFailedError"
    assert not logger.append(_chunk(1))  # closed


def test_a_failing_log_store_never_raises(tmp_path: Path) -> None:
    class Broken:
        def append(self, *args: Any, **kwargs: Any) -> None:
            raise OSError("disk full")

    dropped: list[int] = []
    logger = PredictionLogger(Broken(), on_dropped=dropped.append)
    logger.append(_chunk(4))
    assert logger.flush() == 0 and dropped == [4] and logger.dropped == 4


def test_access_log_lines() -> None:
    stream = io.StringIO()
    log = AccessLog(stream)
    log.add({"ts": 1767225600.25, "path": "/x", "status": 200})
    log.close()
    line = json.loads(stream.getvalue())
    assert line == {"ts": "2026-01-01T00:00:00.250Z", "path": "/x", "status": 200}


def test_loop_lag_says_when_the_process_is_overloaded() -> None:
    import asyncio
    import time

    from modelyard.serving.protection import LoopLag

    async def scenario() -> tuple[bool, bool, bool]:
        lag = LoopLag(limit_s=0.05, interval_s=0.005)
        lag.start()
        await asyncio.sleep(0.03)
        calm = lag.overloaded
        time.sleep(0.2)  # one stall (a garbage collection, say) is not overload
        await asyncio.sleep(0.001)
        calm_after_one_stall = lag.overloaded
        for _ in range(12):  # the loop keeps falling behind: a backlog builds
            time.sleep(0.08)
            await asyncio.sleep(0)
        busy = lag.overloaded
        await asyncio.sleep(0.3)
        recovered = lag.overloaded
        assert not calm_after_one_stall
        lag.stop()
        return calm, busy, recovered

    assert asyncio.run(scenario()) == (False, True, False)


def test_loop_lag_refuses_only_the_excess() -> None:
    from modelyard.serving.protection import LoopLag

    lag = LoopLag(limit_s=0.05)
    lag.lag_s = 0.04
    assert all(lag.admit() for _ in range(100))
    lag.lag_s = 0.2  # four times the limit: about a quarter admitted
    share = sum(lag.admit() for _ in range(4000)) / 4000
    assert 0.2 < share < 0.3
    assert LoopLag(limit_s=0).admit()  # 0 turns shedding off
