"""``modelyard serve`` as a real process (one and two workers; a clean stop flushes the
prediction log) and ``modelyard predict`` on parquet / csv / jsonl with two worker processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from modelyard.cli.main import cli
from modelyard.config import Settings
from modelyard.registry import RegistryClient
from modelyard.storage import Workspace
from tests.conftest import free_port
from tests.serving.helpers import register, row, training_data


@contextmanager
def serving(home: Path, *args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelyard.cli.main", "serve", *args, "--port", str(port)],
        env={**os.environ, "MODELYARD_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read() if proc.stderr else "exited")
            assert time.monotonic() < deadline, "the server did not start within 90 s"
            time.sleep(0.1)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    return err


def test_serve_one_model_and_stop_cleanly(tmp_path: Path, model_dirs: dict[str, Path]) -> None:
    home = tmp_path / "home"
    ws = Workspace(Settings.resolve(home=str(home)))
    register(ws, model_dirs["hgb"], "fraud", "production")
    with serving(home, "models:/fraud@production", "--max-batch-size", "16") as (base, proc):
        got = httpx.post(f"{base}/v1/models/fraud/predict", json={"instances": [row(0), row(1)]})
        assert got.status_code == 200 and got.json()["version"] == 1
        ids = got.json()["prediction_ids"]
        assert "modelyard_requests_total" in httpx.get(f"{base}/metrics").text
        err = _stop(proc)
    access = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    hit = next(a for a in access if a["path"] == "/v1/models/fraud/predict")
    assert hit["status"] == 200 and hit["method"] == "POST" and hit["variant"] == "default"
    assert hit["model_version"] == "1" and hit["latency_ms"] > 0 and hit["ts"].endswith("Z")
    table = ws.logs.read("predictions", partition={"model": "fraud"})  # flushed at the stop
    assert table is not None and table.column("prediction_id").to_pylist() == ids
    actions = [e.action for e in ws.metadata.audit.list_events(object_type="deployment")]
    assert actions == ["deployment.stopped", "deployment.started"]


@pytest.mark.slow  # three interpreters start (a supervisor and two workers)
def test_serve_a_deployments_file_with_two_workers(
    tmp_path: Path, model_dirs: dict[str, Path]
) -> None:
    home = tmp_path / "home"
    ws = Workspace(Settings.resolve(home=str(home)))
    register(ws, model_dirs["hgb"], "fraud", "production")
    register(ws, model_dirs["logreg"], "ranker", "staging")
    config = tmp_path / "deployments.yaml"
    config.write_text(
        "deployments:\n"
        "  fraud: {model: 'models:/fraud@production', preload: true}\n"
        "  ranker: {model: 'models:/ranker@staging', cache: {backend: memory}}\n"
    )
    with serving(home, "--config", str(config), "--workers", "2", "--no-access-log") as (
        base,
        proc,
    ):
        pids = set()
        with httpx.Client() as client:  # a new connection per request: both workers answer
            for _ in range(12):
                for name in ("fraud", "ranker"):
                    got = httpx.post(
                        f"{base}/v1/models/{name}/predict", json={"instances": [row(0)]}
                    )
                    assert got.status_code == 200, got.text
                pids.add(
                    client.get(f"{base}/v1/models", headers={"Connection": "close"}).status_code
                )
        _stop(proc)
    started = ws.metadata.audit.list_events(action="deployment.started")
    assert sorted(e.object_id for e in started) == ["fraud", "ranker"]  # recorded once, not twice
    table = ws.logs.read("predictions")
    assert table is not None and table.num_rows == 24


@pytest.mark.parametrize(
    ("source", "target", "workers"),
    [("parquet", "csv", 2), ("csv", "jsonl", 1), ("jsonl", "parquet", 1)],
)
def test_batch_predict(
    tmp_path: Path, model_dirs: dict[str, Path], source: str, target: str, workers: int
) -> None:
    home = tmp_path / "home"
    ws = Workspace(Settings.resolve(home=str(home)))
    register(ws, model_dirs["hgb"], "fraud", "production")
    X, _ = training_data(n=2_500, seed=5)
    X.insert(0, "row_id", np.arange(len(X)))
    path = tmp_path / f"in.{source}"
    {"parquet": X.to_parquet, "csv": lambda p: X.to_csv(p, index=False),
     "jsonl": lambda p: X.to_json(p, orient="records", lines=True)}[source](path)  # fmt: skip
    out = tmp_path / f"out.{target}"
    result = CliRunner().invoke(
        cli,
        ["--home", str(home), "predict", "models:/fraud@production", "--input", str(path),
         "--output", str(out), "--workers", str(workers), "--chunk-size", "400"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "scored 2,500 rows with fraud version 1" in result.output
    got = {"parquet": pd.read_parquet, "csv": pd.read_csv,
           "jsonl": lambda p: pd.read_json(p, lines=True)}[target](out)  # fmt: skip
    assert got.row_id.tolist() == list(range(2_500))  # every row, in order
    local = RegistryClient(ws).load_model("models:/fraud@production")
    features = X.drop(columns=["row_id"])
    np.testing.assert_allclose(got.proba_1, local.predict_proba(features)[:, 1], rtol=1e-9)
    assert got.prediction.tolist() == local.predict(features).tolist()
    assert not list(tmp_path.glob(".out*"))  # no partial file left behind


def test_batch_predict_errors(tmp_path: Path, model_dirs: dict[str, Path]) -> None:
    home = tmp_path / "home"
    ws = Workspace(Settings.resolve(home=str(home)))
    register(ws, model_dirs["hgb"], "fraud", "production")
    X, _ = training_data(n=10)
    X.drop(columns=["f4"]).to_parquet(tmp_path / "in.parquet")
    base = ["--home", str(home), "predict", "models:/fraud@production"]
    wrong = CliRunner().invoke(
        cli, [*base, "--input", str(tmp_path / "in.parquet"), "--output", str(tmp_path / "o.xlsx")]
    )
    assert "Unknown file format '.xlsx'" in str(wrong.exception)
    missing = CliRunner().invoke(
        cli, [*base, "--input", str(tmp_path / "in.parquet"), "--output", str(tmp_path / "o.csv")]
    )
    assert "missing column(s) 'f4'" in str(missing.exception)
    assert not (tmp_path / "o.csv").exists() and not list(tmp_path.glob(".o.csv*"))
