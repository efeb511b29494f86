"""Several processes writing to the same store at once lose nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from modelyard.entities import Metric
from modelyard.storage.metadata import open_metadata_store

WORKERS = 4
POINTS = 150


def _writer(uri: str, run_id: str, worker: int, barrier: mp.synchronize.Barrier) -> None:  # type: ignore[name-defined]
    store = open_metadata_store(uri)
    barrier.wait()
    for i in range(POINTS):  # one transaction per point ...
        store.tracking.log_metric(run_id, f"w{worker}", float(i), step=i)
    # ... and one big batch
    store.tracking.log_metrics(run_id, [Metric(f"b{worker}", float(i), i, 1) for i in range(1000)])
    store.tracking.log_params(run_id, {f"p{worker}": worker})
    store.registry.create_model_version(
        "shared", actor=f"w{worker}", artifact_uri="file:///x", flavor="sklearn"
    )
    store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_writers_lose_nothing(
    backend: str, request: pytest.FixtureRequest, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    uri = (
        f"sqlite:///{tmp_path / 'c.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_uri")
    )
    store = open_metadata_store(uri)
    exp = store.tracking.create_experiment("c", "file:///tmp/a")
    run_id = store.tracking.create_run(exp.experiment_id, name="r", user="u").run_id
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    procs = [ctx.Process(target=_writer, args=(uri, run_id, w, barrier)) for w in range(WORKERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    assert [p.exitcode for p in procs] == [0] * WORKERS
    run = store.tracking.get_run(run_id)
    for w in range(WORKERS):
        assert len(store.tracking.get_metric_history(run_id, f"w{w}")) == POINTS
        assert len(store.tracking.get_metric_history(run_id, f"b{w}")) == 1000
        assert run.metrics[f"w{w}"] == POINTS - 1
        assert run.params[f"p{w}"] == str(w)
    versions = [v.version for v in store.registry.list_model_versions("shared")]
    assert versions == list(range(1, WORKERS + 1))
    store.close()


def test_concurrent_first_connect_migrates_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    uri = f"sqlite:///{tmp_path / 'fresh.db'}"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_open, args=(uri,)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * 4


def _open(uri: str) -> None:
    store = open_metadata_store(uri)
    store.tracking.list_experiments()
    store.close()
