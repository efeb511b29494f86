"""Helpers for the model-server tests: small models registered in a workspace, and a server
running on a free 127.0.0.1 port in a thread (real HTTP, real uvicorn)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from modelyard.flavors import read_manifest, save_model
from modelyard.registry import RegistryClient
from modelyard.serving import AccessLog, DeploymentsSpec, ModelServer, load_deployments
from modelyard.storage import Workspace

N_FEATURES = 20
COLUMNS = [f"f{i}" for i in range(N_FEATURES)]


def training_data(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, N_FEATURES)), columns=COLUMNS)
    y = ((X.f0 + 0.5 * X.f1 - 0.3 * X.f2 + rng.normal(scale=0.5, size=n)) > 0).astype(int)
    return X, y.to_numpy()


def save_hgb(path: Path, seed: int = 0, max_iter: int = 20) -> Path:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    X, y = training_data(seed=seed)
    with threadpool_limits(1):  # OpenMP threads spinning on a busy 2-core machine: 20x slower
        model = HistGradientBoostingClassifier(max_iter=max_iter, random_state=seed).fit(X, y)
        save_model(model, path, sample=X.head(50))  # (it predicts on the sample)
    return path


def save_logreg(path: Path, seed: int = 0, c: float = 1.0) -> Path:
    from sklearn.linear_model import LogisticRegression

    X, y = training_data(seed=seed)
    save_model(LogisticRegression(C=c, max_iter=500).fit(X, y), path, sample=X.head(50))
    return path


def register(ws: Workspace, directory: Path, name: str, stage: str | None = None) -> int:
    registry = RegistryClient(ws)
    # the test's own models: the types they declare (the faulty model's function) are approved
    declared = read_manifest(directory).trusted_types
    version = registry.register_model(str(directory), name, trusted_types=declared)
    if stage:
        registry.promote(name, version.version, stage)
    return version.version


def row(i: int = 0, seed: int = 1) -> dict[str, float]:
    X, _ = training_data(n=max(i + 1, 10), seed=seed)
    return {k: float(v) for k, v in X.iloc[i].items()}


class RunningServer:
    def __init__(self, server: ModelServer, base: str, thread: threading.Thread, uv: Any) -> None:
        self.server = server
        self.base = base
        self.thread = thread
        self.uv = uv

    def url(self, path: str) -> str:
        return self.base + path


@contextmanager
def running(
    spec: DeploymentsSpec | dict[str, Any],
    workspace: Workspace,
    *,
    access_log: AccessLog | None = None,
) -> Iterator[RunningServer]:
    """``spec`` served by uvicorn in a thread on a free port until the block ends."""
    from modelyard.server.models import create_app

    if isinstance(spec, dict):
        spec = load_deployments(spec)
    server = ModelServer(spec, workspace=workspace)
    with serving_app(create_app(server, access_log=access_log)) as (base, thread, uv):
        yield RunningServer(server, base, thread, uv)


@contextmanager
def serving_app(app: Any) -> Iterator[tuple[str, threading.Thread, Any]]:
    """Any ASGI ``app`` served by uvicorn in a thread on a free 127.0.0.1 port until the block
    ends: its base URL, the thread and the uvicorn server."""
    import uvicorn

    from tests.conftest import free_port

    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        loop="asyncio",
        http="httptools",
        log_level="warning",
        access_log=False,
    )
    uv = uvicorn.Server(config)
    uv.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=lambda: asyncio.run(uv.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not uv.started:
        assert thread.is_alive(), "the server did not start (see the log above)"
        assert time.monotonic() < deadline, "the server did not start within 60 s"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", thread, uv
    finally:
        uv.should_exit = True
        thread.join(30)


_CLIENT = httpx.Client(timeout=30)  # shared: a new client per request costs an SSL context


def predict(base: str, name: str, rows: list[dict[str, Any]], **kwargs: Any) -> httpx.Response:
    return _CLIENT.post(f"{base}/v1/models/{name}/predict", json={"instances": rows}, **kwargs)


def save_faulty(path: Path) -> Path:
    """LogisticRegression behind a step the tests can slow down or break (tests.serving.faulty)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from tests.serving import faulty

    X, y = training_data()
    step = FunctionTransformer(faulty.passthrough, validate=False)
    model = make_pipeline(step, LogisticRegression(max_iter=500)).fit(X, y)
    faulty.reset()
    save_model(model, path, sample=X.head(50), trusted_types=["tests.serving.faulty.passthrough"])
    return path


def metric(base: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample of the server at ``base`` (0.0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = _CLIENT.get(f"{base}/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0
