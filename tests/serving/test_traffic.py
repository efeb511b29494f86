"""Traffic over real HTTP: the A/B split and its stickiness, shadow traffic, following the registry
(a promotion under load with zero failed or mixed answers, and the deployment history), and the
prediction cache never answering for another version."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard.entities import LineageNode
from modelyard.registry import RegistryClient
from modelyard.storage import Workspace
from tests.serving.helpers import metric, predict, register, row, running


def _ab(workspace: Workspace, model_dirs: dict[str, Path]) -> dict[str, Any]:
    register(workspace, model_dirs["logreg"], "scorer", "production")
    register(workspace, model_dirs["logreg_b"], "scorer")
    RegistryClient(workspace).set_alias("scorer", "challenger", 2)
    return {
        "deployments": {
            "scorer": {
                "variants": [
                    {"name": "champion", "model": "models:/scorer@production", "weight": 3},
                    {"name": "challenger", "model": "models:/scorer@challenger", "weight": 1},
                ]
            }
        }
    }


def test_ab_split_ratio_and_stickiness(workspace: Workspace, model_dirs: dict[str, Path]) -> None:
    with running(_ab(workspace, model_dirs), workspace) as srv, httpx.Client() as client:
        url = srv.url("/v1/models/scorer/predict")
        seen: dict[str, int] = {"champion": 0, "challenger": 0}
        n = 240
        for _ in range(n):
            body = client.post(url, json={"instances": [row(0)]}).json()
            seen[body["variant"]] += 1
            assert body["version"] == (1 if body["variant"] == "champion" else 2)
        # 75 % / 25 %: with n = 240 the standard deviation of the share is 2.8 %
        assert abs(seen["challenger"] / n - 0.25) < 0.1, seen

        for key in ("customer-1", "customer-2", "customer-3"):
            answers = {
                client.post(
                    url, json={"instances": [row(0)]}, headers={"X-Routing-Key": key}
                ).json()["variant"]
                for _ in range(8)
            }
            assert len(answers) == 1, f"{key} was answered by {answers}"
        by_key = [
            client.post(url, json={"instances": [row(0)], "routing_key": f"k{i}"}).json()["variant"]
            for i in range(120)
        ]
        assert 0.12 < by_key.count("challenger") / 120 < 0.38
        again = [
            client.post(url, json={"instances": [row(0)], "routing_key": f"k{i}"}).json()["variant"]
            for i in range(120)
        ]
        assert again == by_key


def test_shadow_is_logged_not_returned(workspace: Workspace, model_dirs: dict[str, Path]) -> None:
    register(workspace, model_dirs["hgb"], "fraud", "production")
    register(workspace, model_dirs["logreg"], "fraud", "staging")
    spec = {
        "server": {"prediction_log": {"flush_interval_s": 3600}},
        "deployments": {
            "fraud": {
                "model": "models:/fraud@production",
                "shadow": {"model": "models:/fraud@staging"},
                "preload": True,
            }
        },
    }
    ids = []
    with running(spec, workspace) as srv:
        for i in range(6):
            got = predict(srv.base, "fraud", [row(i)])
            assert got.status_code == 200
            body = got.json()
            assert body["variant"] == "default" and body["version"] == 1
            ids += body["prediction_ids"]
        deadline = time.monotonic() + 10
        labels = {"deployment": "fraud", "model": "fraud", "version": "2", "outcome": "ok"}
        while metric(srv.base, "modelyard_shadow_predictions_total", **labels) < 6:
            assert time.monotonic() < deadline, "the shadow model did not score every request"
            time.sleep(0.05)
    table = workspace.logs.read("predictions", partition={"model": "fraud"})
    assert table is not None
    rows = table.to_pylist()
    shadow = [r for r in rows if r["variant"] == "shadow"]
    primary = [r for r in rows if r["variant"] == "default"]
    assert sorted(r["prediction_id"] for r in shadow) == sorted(ids)
    assert {r["version"] for r in shadow} == {2} and {r["version"] for r in primary} == {1}
    local = RegistryClient(workspace).load_model("models:/fraud/2")
    first = next(r for r in shadow if r["prediction_id"] == ids[0])
    assert first["proba"] == pytest.approx(local.predict_proba([row(0)])[0, 1])


def test_promotion_under_load_swaps_without_a_failed_or_mixed_answer(
    workspace: Workspace, model_dirs: dict[str, Path]
) -> None:
    register(workspace, model_dirs["logreg"], "fraud", "production")
    register(workspace, model_dirs["logreg_b"], "fraud")
    spec = {
        "server": {"poll_interval_s": 0.1},
        "deployments": {"fraud": {"model": "models:/fraud@production", "preload": True}},
    }
    expected = {
        v: RegistryClient(workspace).load_model(f"models:/fraud/{v}").predict_proba([row(0)])[0, 1]
        for v in (1, 2)
    }
    results: list[tuple[float, float, int, Any]] = []
    stop = threading.Event()
    with running(spec, workspace) as srv:

        def hammer() -> None:
            with httpx.Client() as client:
                while not stop.is_set():
                    sent = time.monotonic()
                    got = client.post(
                        srv.url("/v1/models/fraud/predict"), json={"instances": [row(0)]}
                    )
                    body = got.json() if got.status_code == 200 else got.text
                    results.append((sent, time.monotonic(), got.status_code, body))

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.7)
        promoted_at = time.monotonic()
        RegistryClient(workspace).promote("fraud", 2, "production", reason="test")  # as another
        # process would: the server only sees it in the metadata store
        deadline = time.monotonic() + 15
        while not any(r[2] == 200 and r[3]["version"] == 2 for r in list(results)):
            assert time.monotonic() < deadline, "the server did not follow the promotion"
            time.sleep(0.05)
        time.sleep(0.7)
        stop.set()
        for t in threads:
            t.join()
    assert len(results) > 20
    failed = [r for r in results if r[2] != 200]
    assert not failed, failed[:3]
    for _, _, _, body in results:  # each answer is wholly one version's
        assert body["version"] in (1, 2)
        assert body["probabilities"][0][1] == pytest.approx(expected[body["version"]])
    first_new = min(r[1] for r in results if r[3]["version"] == 2)
    assert first_new > promoted_at
    late_old = [r for r in results if r[0] > first_new and r[3]["version"] == 1]
    assert not late_old, "a request sent after the swap was answered by the old version"

    events = workspace.metadata.audit.list_events(object_type="deployment", object_id="fraud")
    actions = [(e.action, e.details.get("version"), e.details.get("to_version")) for e in events]
    assert ("deployment.swapped", None, 2) in actions
    assert ("deployment.started", 1, None) in actions
    assert actions[0][0] == "deployment.stopped"
    swapped = next(e for e in events if e.action == "deployment.swapped")
    assert swapped.details["from_version"] == 1 and swapped.details["variant"] == "default"
    lineage = workspace.metadata.audit.get_lineage(LineageNode("deployment", "fraud"))
    assert {e.source.id for e in lineage if e.relation == "deployed"} == {"fraud/1", "fraud/2"}


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_cache_hits_never_cross_versions(
    workspace: Workspace, model_dirs: dict[str, Path], backend: str, request: pytest.FixtureRequest
) -> None:
    cache: dict[str, Any] = {"backend": backend}
    if backend == "redis":
        url, namespace = request.getfixturevalue("redis_namespace")
        cache.update(url=url, namespace=namespace)
    register(workspace, model_dirs["logreg"], "fraud", "production")
    register(workspace, model_dirs["logreg_b"], "fraud")
    spec = {
        "server": {"poll_interval_s": 0.1},
        "deployments": {"fraud": {"model": "models:/fraud@production", "cache": cache}},
    }
    with running(spec, workspace) as srv:
        first = predict(srv.base, "fraud", [row(0)])
        assert "x-modelyard-cache" not in first.headers
        second = predict(srv.base, "fraud", [row(0)])
        assert second.headers["x-modelyard-cache"] == "hit"
        assert second.json()["probabilities"] == first.json()["probabilities"]
        mixed = predict(srv.base, "fraud", [row(0), row(1)])
        assert mixed.headers["x-modelyard-cache"] == "partial"
        labels = {"deployment": "fraud", "model": "fraud", "version": "1", "variant": "default"}
        assert metric(srv.base, "modelyard_cache_lookups_total", **labels, result="hit") == 2
        assert metric(srv.base, "modelyard_cache_lookups_total", **labels, result="miss") == 2

        RegistryClient(workspace).promote("fraud", 2, "production")
        deadline = time.monotonic() + 15
        while (new := predict(srv.base, "fraud", [row(0)]).json())["version"] != 2:
            assert time.monotonic() < deadline, "the server did not follow the promotion"
            time.sleep(0.05)
        # the first answer of version 2 is computed, not version 1's cached one
        local = RegistryClient(workspace).load_model("models:/fraud/2")
        assert new["probabilities"][0][1] == pytest.approx(local.predict_proba([row(0)])[0, 1])
        assert new["probabilities"] != first.json()["probabilities"]
        assert (
            metric(
                srv.base, "modelyard_cache_lookups_total", model="fraud", version="2", result="miss"
            )
            == 1
        )
        hit = predict(srv.base, "fraud", [row(0)])
        assert hit.headers["x-modelyard-cache"] == "hit" and hit.json()["version"] == 2
        assert hit.json()["probabilities"] == new["probabilities"]
