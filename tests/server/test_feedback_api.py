"""POST /v1/feedback over real HTTP on 127.0.0.1, mounted in a minimal app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelyard.server.feedback import feedback_router
from modelyard.storage import Workspace
from tests.monitoring.helpers import log_predictions, register_classifier, training_data
from tests.serving.helpers import serving_app


@pytest.fixture
def server(workspace: Workspace, tmp_path: Path) -> Iterator[str]:
    from fastapi import FastAPI

    register_classifier(workspace, tmp_path)
    X, _ = training_data(3)
    log_predictions(workspace, X, [0.0, 1.0, 1.0], ids=["a", "b", "c"])

    def flush() -> None:  # the server's logger writes what it still buffers (here: id "late")
        if workspace.logs.read("predictions", partition={"model": "fraud"}).num_rows == 3:  # type: ignore[union-attr]
            log_predictions(workspace, X.head(1), [1.0], ids=["late"])

    app = FastAPI()
    app.include_router(feedback_router(workspace, flush=flush))
    with serving_app(app) as (base, _thread, _uv):
        yield base


def test_feedback_over_http(server: str, workspace: Workspace) -> None:
    body = {
        "feedback": [
            {"prediction_id": "a", "label": 0},
            {"prediction_id": "b", "label": "spam"},
            {"prediction_id": "zzz", "label": 1},
            {"prediction_id": "c", "label": 1},
            {"prediction_id": "late", "label": 1},
        ],
        "model": "fraud",
    }
    got = httpx.post(f"{server}/v1/feedback", json=body)
    assert got.status_code == 200, got.text
    data = got.json()
    assert (data["accepted"], data["unknown_ids"]) == (3, ["zzz"])
    assert data["refused"][0]["field"] == "label" and data["refused"][0]["value"] == "spam"
    table = workspace.logs.read("feedback")
    assert table is not None and sorted(table.column("prediction_id").to_pylist()) == [
        "a",
        "c",
        "late",
    ]


def test_bad_requests(server: str, workspace: Workspace) -> None:
    refused = httpx.post(
        f"{server}/v1/feedback", json={"feedback": [{"prediction_id": "a", "label": {"x": 1}}]}
    )
    assert refused.status_code == 422 and refused.json()["refused_count"] == 1
    strict = httpx.post(
        f"{server}/v1/feedback",
        json={
            "feedback": [{"prediction_id": "a", "label": 1}, {"prediction_id": "q", "label": 1}],
            "strict": True,
        },
    )
    assert strict.status_code == 422 and strict.json()["error"] == "DataValidationError"
    assert "nothing was written" in strict.json()["message"]
    typo = httpx.post(
        f"{server}/v1/feedback", json={"feedback": [{"prediction_id": "a", "lable": 1}]}
    )
    assert typo.status_code == 422
    empty = httpx.post(f"{server}/v1/feedback", json={"feedback": []})
    assert empty.status_code == 422
    assert workspace.logs.read("feedback") is None


def test_a_boolean_label_and_an_unknown_model(server: str, workspace: Workspace) -> None:
    boolean = httpx.post(
        f"{server}/v1/feedback", json={"feedback": [{"prediction_id": "a", "label": True}]}
    )
    assert boolean.status_code == 422, boolean.text
    [refused] = boolean.json()["refused"]
    assert (refused["field"], refused["value"]) == ("label", True)
    assert "is a boolean, not one of the classes of fraud v1 (0, 1)" in refused["message"]
    nope = httpx.post(
        f"{server}/v1/feedback",
        json={"feedback": [{"prediction_id": "a", "label": 1}], "model": "nope"},
    )
    assert nope.status_code == 404, nope.text
    body = nope.json()
    assert body["error"] == "NotFoundError" and "'nope'" in body["message"]
    assert "Models with predictions: fraud" in body["message"]
    assert workspace.logs.read("feedback") is None
