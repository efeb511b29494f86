"""Protection over real HTTP: 429 + Retry-After per client, a bounded queue's fast 503, the
request timeout (504), the circuit breaker opening and recovering, micro-batching of concurrent
requests; the server keeps answering after each."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx

from modelyard.storage import Workspace
from tests.serving import faulty
from tests.serving.helpers import metric, predict, register, row, running


def _faulty(workspace: Workspace, model_dirs: dict[str, Path], **deployment: Any) -> dict[str, Any]:
    register(workspace, model_dirs["faulty"], "faulty", "production")
    return {
        "deployments": {
            "faulty": {"model": "models:/faulty@production", "preload": True, **deployment}
        }
    }


def _concurrently(base: str, n: int, rows: int = 1) -> list[tuple[int, float, httpx.Response]]:
    """``n`` requests at once; (status, seconds, response) each."""
    out: list[tuple[int, float, httpx.Response]] = []
    barrier = threading.Barrier(n)

    def one() -> None:
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            start = time.monotonic()
            got = client.post(
                f"{base}/v1/models/faulty/predict", json={"instances": [row(0)] * rows}
            )
            out.append((got.status_code, time.monotonic() - start, got))

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_rate_limit_gives_429_with_retry_after(
    workspace: Workspace, model_dirs: dict[str, Path]
) -> None:
    limit = {"requests_per_s": 1, "burst": 2}
    spec = _faulty(workspace, model_dirs, rate_limit=limit)
    model = spec["deployments"]["faulty"]["model"]  # and one behind a proxy naming the client:
    proxied = {"model": model, "rate_limit": {**limit, "client_header": "X-Client-Id"}}
    spec["deployments"]["proxied"] = proxied
    with running(spec, workspace) as srv, httpx.Client() as client:
        url = srv.url("/v1/models/faulty/predict")
        body = {"instances": [row(0)]}
        # by IP address: a header the client picks itself does not buy it a fresh bucket
        codes = [
            client.post(url, json=body, headers={"X-Client-Id": f"client-{i}"}).status_code
            for i in range(6)
        ]
        assert codes == [200, 200, 429, 429, 429, 429]
        limited = client.post(url, json=body)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
        assert "Too many requests" in limited.json()["message"]
        other_ip = httpx.HTTPTransport(local_address="127.0.0.2")  # loopback, another address
        with httpx.Client(transport=other_ip) as other:
            assert other.post(url, json=body).status_code == 200
        time.sleep(1.1)
        assert client.post(url, json=body).status_code == 200
        assert metric(srv.base, "modelyard_errors_total", kind="rate_limited") == 5

        # client_header configured (a trusted proxy sets it): one bucket per header value
        url = srv.url("/v1/models/proxied/predict")
        codes = [
            client.post(url, json=body, headers={"X-Client-Id": name}).status_code
            for name in ("a", "a", "a", "b", "c")
        ]
        assert codes == [200, 200, 429, 200, 200]


def test_bounded_queue_answers_503_fast(workspace: Workspace, model_dirs: dict[str, Path]) -> None:
    spec = _faulty(workspace, model_dirs, batching={"max_batch_size": 1, "max_queue": 2})
    with running(spec, workspace) as srv:
        faulty.STATE["delay_s"] = 0.4
        results = _concurrently(srv.base, 8)
        faulty.STATE["delay_s"] = 0.0
        shed = [r for r in results if r[0] == 503]
        ok = [r for r in results if r[0] == 200]
        assert len(ok) + len(shed) == 8 and len(shed) >= 3 and len(ok) >= 2, [r[0] for r in results]
        assert all(r[2].headers["retry-after"] == "1" for r in shed)
        assert "queue is full" in shed[0][2].json()["message"]
        assert max(r[1] for r in shed) < min(r[1] for r in ok)  # refused at once, not queued
        assert predict(srv.base, "faulty", [row(0)]).status_code == 200
        assert metric(srv.base, "modelyard_errors_total", kind="overloaded") == len(shed)


def test_request_timeout_gives_504(workspace: Workspace, model_dirs: dict[str, Path]) -> None:
    spec = _faulty(workspace, model_dirs, timeout_ms=200)
    with running(spec, workspace) as srv:
        faulty.STATE["delay_s"] = 1.0
        start = time.monotonic()
        got = predict(srv.base, "faulty", [row(0)])
        assert got.status_code == 504 and time.monotonic() - start < 0.9
        assert "not answered within its timeout (200 ms)" in got.json()["message"]
        faulty.STATE["delay_s"] = 0.0
        time.sleep(1.0)  # the slow batch finishes in its thread
        assert predict(srv.base, "faulty", [row(0)]).status_code == 200
        assert metric(srv.base, "modelyard_errors_total", kind="timeout") == 1


def test_circuit_breaker_opens_and_recovers(
    workspace: Workspace, model_dirs: dict[str, Path]
) -> None:
    spec = _faulty(workspace, model_dirs, circuit_breaker={"failures": 2, "reset_s": 0.5})
    with running(spec, workspace) as srv:
        labels = {"model": "faulty", "version": "1"}
        faulty.STATE["fail"] = 1
        for _ in range(2):
            got = predict(srv.base, "faulty", [row(0)])
            assert got.status_code == 500 and "the model is broken" in got.json()["message"]
        calls = len(faulty.CALLS)
        refused = predict(srv.base, "faulty", [row(0)])
        assert refused.status_code == 503 and "circuit breaker is open" in refused.json()["message"]
        assert refused.headers["retry-after"] == "1"
        assert len(faulty.CALLS) == calls  # refused without calling the model
        assert metric(srv.base, "modelyard_circuit_open", **labels) == 1
        faulty.STATE["fail"] = 0
        time.sleep(0.6)
        assert predict(srv.base, "faulty", [row(0)]).status_code == 200  # the trial
        assert predict(srv.base, "faulty", [row(0)]).status_code == 200
        assert metric(srv.base, "modelyard_circuit_open", **labels) == 0
        assert metric(srv.base, "modelyard_errors_total", kind="model_error") == 2
        assert metric(srv.base, "modelyard_errors_total", kind="circuit_open") == 1


def test_concurrent_requests_are_scored_in_batches(
    workspace: Workspace, model_dirs: dict[str, Path]
) -> None:
    spec = _faulty(workspace, model_dirs, batching={"max_batch_size": 64, "max_latency_ms": 5})
    with running(spec, workspace) as srv:
        faulty.STATE["delay_s"] = 0.2  # while one batch is scored, the others queue up
        faulty.CALLS.clear()
        results = _concurrently(srv.base, 16)
        assert [r[0] for r in results] == [200] * 16
        assert sum(faulty.CALLS) == 16 and len(faulty.CALLS) < 16, faulty.CALLS
        assert max(faulty.CALLS) > 1
        labels = {"model": "faulty", "version": "1"}
        batches = metric(srv.base, "modelyard_batch_size_count", **labels)
        rows = metric(srv.base, "modelyard_batch_size_sum", **labels)
        assert rows == 16 and batches == len(faulty.CALLS)
        assert metric(srv.base, "modelyard_batch_size_bucket", **labels, le="1.0") < batches
        # each answer is its own request's
        ids = [i for r in results for i in r[2].json()["prediction_ids"]]
        assert len(set(ids)) == 16


def test_a_lagging_event_loop_sheds_load_at_once(
    workspace: Workspace, model_dirs: dict[str, Path]
) -> None:
    import asyncio

    with running(_faulty(workspace, model_dirs), workspace) as srv:
        loop = srv.server.loop
        assert loop is not None

        async def fall_behind() -> None:  # the loop keeps running 100 ms late, as when flooded
            for _ in range(40):
                time.sleep(0.1)
                await asyncio.sleep(0.002)

        stalls = asyncio.run_coroutine_threadsafe(fall_behind(), loop)
        time.sleep(1.0)
        answers = [predict(srv.base, "faulty", [row(0)]) for _ in range(12)]
        codes = [a.status_code for a in answers]
        # lag about 100 ms against a 50 ms limit: about half refused, the rest still served
        assert 503 in codes and set(codes) <= {200, 503}, codes
        refused = next(a for a in answers if a.status_code == 503)
        assert refused.headers["retry-after"] == "1"
        assert "The server is overloaded" in refused.json()["message"]
        stalls.result(10)
        time.sleep(0.5)
        assert predict(srv.base, "faulty", [row(0)]).status_code == 200
        assert metric(srv.base, "modelyard_errors_total", kind="busy") == codes.count(503)
