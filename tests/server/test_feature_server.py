"""The feature server over real HTTP on 127.0.0.1 (a `modelyard features serve` process)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from modelyard.config import Settings
from modelyard.features import Entity, FeatureService, FeatureStore, FeatureView
from modelyard.storage import Workspace

T0 = pd.Timestamp("2026-01-01")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    from tests.conftest import free_port

    home = tmp_path / "home"
    ws = Workspace(Settings.resolve(home=str(home)))
    pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "merchant_id": [1, 2],
            "ts": [T0, T0 + pd.Timedelta("1h")],
            "spend": [10.5, 20.0],
        }
    ).to_parquet(tmp_path / "spend.parquet")
    fs = FeatureStore(ws)
    fs.apply(
        [
            Entity(name="customer", join_keys=["customer_id"]),
            FeatureView(
                name="spend",
                entities=["customer"],
                source=str(tmp_path / "spend.parquet"),
                timestamp_field="ts",
                features={"spend": "float64"},
                ttl="1d",
            ),
            FeatureService(name="svc", features=["spend"]),
        ]
    )
    fs.materialize(T0, T0 + pd.Timedelta(days=1))
    ws.close()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelyard.cli.main", "features", "serve", "--port", str(port)],
        env={**os.environ, "MODELYARD_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.1)
    yield base
    proc.terminate()
    proc.wait(10)


def test_online_features_over_http(server: str) -> None:
    health = httpx.get(f"{server}/health").json()
    assert health["status"] == "ok" and "SQLite" in health["online_store"]
    body = {"feature_service": "svc", "entities": {"customer_id": ["a", "b", "zz"]}}
    got = httpx.post(f"{server}/v1/features/online", json={**body, "at": "2026-01-01T12:00:00"})
    assert got.status_code == 200
    data = got.json()
    assert data["feature_names"] == ["spend"]
    assert [r["values"] for r in data["results"]] == [[10.5], [20.0], [None]]
    assert [r["statuses"] for r in data["results"]] == [["present"], ["present"], ["not_found"]]
    expired = httpx.post(f"{server}/v1/features/online", json={**body, "at": "2026-01-05"}).json()
    assert expired["results"][0] == {
        "values": [None],
        "statuses": ["expired"],
        "event_timestamps": [int(T0.timestamp() * 1000)],
    }
    # b's value is from 01:00: as of 00:30 it is the future, never returned
    early = httpx.post(f"{server}/v1/features/online", json={**body, "at": "2026-01-01T00:30"})
    assert [r["statuses"] for r in early.json()["results"]] == [
        ["present"],
        ["not_found"],
        ["not_found"],
    ]
    rows = {"features": ["spend:spend"], "entity_rows": [{"customer_id": "b"}], "at": 1767229200000}
    assert httpx.post(f"{server}/v1/features/online", json=rows).json()["results"][0]["values"] == [
        20.0
    ]


def test_bad_requests_get_clear_errors(server: str) -> None:
    url = f"{server}/v1/features/online"
    unknown = httpx.post(url, json={"features": ["spend:spnd"], "entities": {"customer_id": ["a"]}})
    assert unknown.status_code == 404
    assert "did you mean 'spend:spend'" in unknown.json()["message"]
    typo = httpx.post(url, json={"feature_service": "svc", "entitys": {"customer_id": ["a"]}})
    assert typo.status_code == 422 and "entitys" in typo.json()["message"]
    both = httpx.post(url, json={"feature_service": "svc", "features": ["spend"], "entities": {}})
    assert both.status_code == 422 and "exactly one" in both.json()["message"]
    no_key = httpx.post(url, json={"feature_service": "svc", "entity_rows": [{"id": "a"}]})
    assert no_key.status_code == 422 and "customer_id" in no_key.json()["message"]
