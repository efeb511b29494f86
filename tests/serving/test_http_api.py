"""The model server over real HTTP on 127.0.0.1: v1 and v2 shapes, validation (422), size limit
(413), docs, metrics, the prediction log, and multi-model LRU eviction."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from modelyard.registry import RegistryClient
from modelyard.storage import Workspace
from tests.serving.helpers import COLUMNS, metric, predict, register, row, running


def _one(ws: Workspace, model_dirs: dict[str, Path], **deployment: object) -> dict[str, object]:
    register(ws, model_dirs["hgb"], "fraud", "production")
    return {
        "server": {"prediction_log": {"flush_interval_s": 3600}},
        "deployments": {"fraud": {"model": "models:/fraud@production", **deployment}},
    }


def test_v1_records_and_columns(workspace: Workspace, model_dirs: dict[str, Path]) -> None:
    with running(_one(workspace, model_dirs), workspace) as srv:
        rows = [row(i) for i in range(3)]
        got = predict(srv.base, "fraud", rows)
        assert got.status_code == 200, got.text
        body = got.json()
        assert body["model"] == "fraud" and body["version"] == 1 and body["variant"] == "default"
        assert got.headers["x-modelyard-variant"] == "default"
        assert got.headers["x-modelyard-model-version"] == "1"
        assert len(body["predictions"]) == 3 and len(set(body["prediction_ids"])) == 3
        assert body["classes"] == [0, 1]
        np.testing.assert_allclose([sum(p) for p in body["probabilities"]], 1.0)
        local = RegistryClient(workspace).load_model("models:/fraud/1")
        np.testing.assert_allclose(body["probabilities"], local.predict_proba(rows))
        assert body["predictions"] == local.predict(rows).tolist()

        columns = {name: [r[name] for r in rows] for name in COLUMNS}
        by_columns = httpx.post(srv.url("/v1/models/fraud/predict"), json={"inputs": columns})
        assert by_columns.status_code == 200
        assert by_columns.json()["probabilities"] == body["probabilities"]

        listed = httpx.get(srv.url("/v1/models")).json()
        assert listed[0]["name"] == "fraud" and listed[0]["variants"][0]["loaded"] is True


@pytest.mark.parametrize(
    ("change", "status", "field", "words"),
    [
        ({"drop": "f3"}, 422, "f3", "missing input 'f3'"),
        ({"add": ("f33", 1.0)}, 422, "f33", "unknown input (did you mean 'f3'"),
        ({"set": ("f5", "abc")}, 422, "f5", "instances[1].f5: expected a number, got 'abc'"),
        ({"set": ("f5", None)}, 422, "f5", "must not be null"),
        ({"set": ("f5", True)}, 422, "f5", "expected a number, got True"),
    ],
)
def test_invalid_inputs_get_422_naming_the_field(
    workspace: Workspace,
    model_dirs: dict[str, Path],
    change: dict[str, object],
    status: int,
    field: str,
    words: str,
) -> None:
    with running(_one(workspace, model_dirs), workspace) as srv:
        bad = row(1)
        if "drop" in change:
            del bad[str(change["drop"])]
        for key in ("add", "set"):
            if key in change:
                name, value = change[key]  # type: ignore[misc]
                bad[name] = value
        got = predict(srv.base, "fraud", [row(0), bad])
        assert got.status_code == status, got.text
        assert got.json()["field"] == field
        assert words in got.json()["message"]


def test_bad_bodies_and_unknown_deployment(
    workspace: Workspace, model_dirs: dict[str, Path]
) -> None:
    with running(_one(workspace, model_dirs), workspace) as srv:
        url = srv.url("/v1/models/fraud/predict")
        not_json = httpx.post(url, content=b"{nope", headers={"content-type": "application/json"})
        assert not_json.status_code == 422 and "not valid JSON" in not_json.json()["message"]
        typo = httpx.post(url, json={"instancse": [row(0)]})
        assert typo.status_code == 422 and "did you mean 'instances'" in typo.json()["message"]
        empty = httpx.post(url, json={"instances": []})
        assert empty.status_code == 422 and "is empty" in empty.json()["message"]
        unknown = predict(srv.base, "frad", [row(0)])
        assert unknown.status_code == 404 and "did you mean 'fraud'" in unknown.json()["message"]


def test_payload_limit_gives_413(workspace: Workspace, model_dirs: dict[str, Path]) -> None:
    spec = _one(workspace, model_dirs)
    spec["server"] = {"max_body_bytes": 4096}
    with running(spec, workspace) as srv:
        rows = [row(0)] * 20  # about 9 kB
        got = predict(srv.base, "fraud", rows)
        assert got.status_code == 413 and "limit of 4,096 bytes" in got.json()["message"]

        def chunks():  # no Content-Length: the body is streamed and cut at the limit
            yield b'{"instances": ['
            for _ in range(100):
                yield b'{"f0": 1.0, "f1": 2.0, "f2": 3.0, "f3": 4.0, "f4": 5.0, "f5": 6.0},'
            yield b"{}]}"

        streamed = httpx.post(srv.url("/v1/models/fraud/predict"), content=chunks())
        assert streamed.status_code == 413
        assert predict(srv.base, "fraud", [row(0)]).status_code == 200


def test_open_inference_protocol_v2(workspace: Workspace, model_dirs: dict[str, Path]) -> None:
    with running(_one(workspace, model_dirs), workspace) as srv:
        assert httpx.get(srv.url("/v2/health/live")).json() == {"live": True}
        assert httpx.get(srv.url("/v2/health/ready")).json() == {"ready": True}
        assert httpx.get(srv.url("/v2")).json()["name"] == "modelyard"
        assert httpx.get(srv.url("/v2/models/fraud/ready")).json() == {
            "name": "fraud",
            "ready": True,
        }
        meta = httpx.get(srv.url("/v2/models/fraud")).json()
        assert meta["versions"] == ["1"] and meta["platform"] == "modelyard-sklearn"
        assert [i["name"] for i in meta["inputs"]] == COLUMNS
        assert meta["inputs"][0] == {"name": "f0", "datatype": "FP64", "shape": [-1]}
        assert meta["outputs"][1]["shape"] == [-1, 2]

        rows = [row(0), row(1)]
        named = {
            "id": "req-1",
            "inputs": [
                {"name": c, "shape": [2], "datatype": "FP64", "data": [r[c] for r in rows]}
                for c in COLUMNS
            ],
        }
        got = httpx.post(srv.url("/v2/models/fraud/infer"), json=named)
        assert got.status_code == 200, got.text
        body = got.json()
        assert body["id"] == "req-1" and body["model_name"] == "fraud"
        assert body["model_version"] == "1"
        predict_out, proba_out = body["outputs"]
        assert predict_out["name"] == "predict" and predict_out["shape"] == [2]
        assert predict_out["datatype"] == "INT64"
        assert proba_out["shape"] == [2, 2] and len(proba_out["data"]) == 4
        assert len(body["parameters"]["prediction_ids"]) == 2

        matrix = {
            "inputs": [
                {
                    "name": "input-0",
                    "shape": [2, 20],
                    "datatype": "FP64",
                    "data": [[r[c] for c in COLUMNS] for r in rows],
                }
            ]
        }
        same = httpx.post(srv.url("/v2/models/fraud/infer"), json=matrix).json()
        assert same["outputs"] == body["outputs"]

        bad_shape = {"inputs": [{**named["inputs"][0], "shape": [3]}]}
        got = httpx.post(srv.url("/v2/models/fraud/infer"), json=bad_shape)
        assert got.status_code == 422 and "inputs[0].data" in got.json()["error"]
        missing = httpx.post(
            srv.url("/v2/models/fraud/infer"), json={"inputs": named["inputs"][1:]}
        )
        assert missing.status_code == 422 and "missing input 'f0'" in missing.json()["error"]
        assert httpx.get(srv.url("/v2/models/nope")).status_code == 404


def _tensors(rows: list[dict[str, float]]) -> list[dict[str, object]]:
    return [
        {"name": c, "shape": [len(rows)], "datatype": "FP64", "data": [r[c] for r in rows]}
        for c in COLUMNS
    ]


_MALFORMED = (  # a change to the first tensor, where the error points, words it holds
        ({"datatype": "NOPE"}, "inputs[0].datatype", "'NOPE' is not an Open Inference Protocol"),
        ({"datatype": "FP46"}, "inputs[0].datatype", "(did you mean 'FP64'"),
        ({"datatype": "INT64", "data": [10**30, 1]}, "inputs[0].data[0]", "is not a valid INT64"),
        ({"datatype": "INT8", "data": [1, 300]}, "inputs[0].data[1]", "300 is not a valid INT8"),
        ({"datatype": "INT64", "data": [1.5, 1]}, "inputs[0].data[0]", "1.5 is not a valid INT64"),
        ({"datatype": "FP32", "data": [1e39, 1.0]}, "inputs[0].data[0]", "not a valid FP32"),
        ({"data": [True, 1.0]}, "inputs[0].data[0]", "True is not a valid FP64"),
        ({"datatype": "BYTES", "data": ["a", "b"]}, "inputs[0].datatype",
         "BYTES does not suit input 'f0', which the model declares float"),
        ({"name": "f1"}, "inputs[1].name", "input 'f1' is given twice (inputs[0] too)"),
        ({"shape": [1], "data": [[0.5]]}, "inputs[0].data[0]", "nested deeper than its shape [1]"),
        ({"shape": [2], "data": [[0.5], [0.5]]}, "inputs[0].data[0]", "deeper than its shape [2]"),
        ({"shape": [2, 1], "data": [[0.5, 1.0], [0.5]]}, "inputs[0].data[0]",
         "holds 2 items where shape [2, 1] needs 1"),
        ({"shape": [1, 2, 1]}, "inputs[0].shape", "a named input is [N] (or [N, 1])"),
        ({"data": 0.5}, "inputs[0].data", "must be a list, got float"),
        ({"name": 3}, "inputs[0].name", "must be the input's name"),
)  # fmt: skip


def test_v2_malformed_tensors_get_422_naming_the_input(
    workspace: Workspace, model_dirs: dict[str, Path]
) -> None:
    with running(_one(workspace, model_dirs), workspace) as srv, httpx.Client() as client:
        for first, where, words in _MALFORMED:
            tensors = _tensors([row(0), row(1)])
            tensors[0] = {**tensors[0], **first}
            got = client.post(srv.url("/v2/models/fraud/infer"), json={"inputs": tensors})
            assert got.status_code == 422, (first, got.text)
            error = got.json()["error"]
            assert f"{where}: " in error and words in error, (first, error)
            assert got.json()["error_type"] == "SpecError"


def test_v2_well_formed_variants_are_answered(
    workspace: Workspace, model_dirs: dict[str, Path]
) -> None:
    rows = [row(0), row(1)]
    with running(_one(workspace, model_dirs), workspace) as srv:
        url = srv.url("/v2/models/fraud/infer")
        base = httpx.post(url, json={"inputs": _tensors(rows)}).json()["outputs"]
        whole = _tensors([{c: float(round(r[c])) for c in COLUMNS} for r in rows])
        for tensor in whole:  # whole numbers as INT64 (a float input takes integers)
            tensor.update(datatype="INT64", data=[int(v) for v in tensor["data"]])  # type: ignore[attr-defined]
        assert httpx.post(url, json={"inputs": whole}).status_code == 200
        nested = _tensors(rows)
        for tensor in nested:  # [N, 1], nested as the shape
            tensor.update(shape=[2, 1], data=[[v] for v in tensor["data"]])  # type: ignore[attr-defined]
        got = httpx.post(url, json={"inputs": nested})
        assert got.status_code == 200, got.text
        assert got.json()["outputs"] == base


def test_v2_versioned_paths(workspace: Workspace, model_dirs: dict[str, Path]) -> None:
    register(workspace, model_dirs["hgb"], "fraud", "production")
    register(workspace, model_dirs["logreg"], "fraud", "staging")
    spec = {
        "deployments": {
            "fraud": {
                "variants": [
                    {"name": "champion", "model": "models:/fraud@production", "weight": 1},
                    {"name": "candidate", "model": "models:/fraud@staging", "weight": 0},
                ]
            }
        }
    }
    body = {"inputs": _tensors([row(0)])}
    with running(spec, workspace) as srv, httpx.Client() as client:
        meta = client.get(srv.url("/v2/models/fraud/versions/2"))
        assert meta.status_code == 200 and meta.json()["versions"] == ["2"]
        assert client.get(srv.url("/v2/models/fraud/versions/2/ready")).json()["ready"] is True
        for version, variant in (("1", "champion"), ("2", "candidate")):
            for path in (f"/v2/models/fraud/versions/{version}/infer",):
                got = client.post(srv.url(path), json=body)
                assert got.status_code == 200, got.text
                assert got.json()["model_version"] == version
                assert got.json()["parameters"]["variant"] == variant
        for path in ("/versions/3", "/versions/3/ready"):
            gone = client.get(srv.url("/v2/models/fraud" + path))
            assert gone.status_code == 404
            assert (
                "does not serve version '3' now; it serves version 1 (champion"
                in (gone.json()["error"])
            )
        refused = client.post(srv.url("/v2/models/fraud/versions/3/infer"), json=body)
        assert refused.status_code == 404 and "serves version 1" in refused.json()["error"]
        paths = client.get(srv.url("/openapi.json")).json()["paths"]
        assert "/v2/models/{name}/versions/{version}/infer" in paths


def test_docs_and_openapi(workspace: Workspace, model_dirs: dict[str, Path]) -> None:
    with running(_one(workspace, model_dirs), workspace) as srv:
        assert httpx.get(srv.url("/docs")).status_code == 200
        paths = httpx.get(srv.url("/openapi.json")).json()["paths"]
        for path in ("/v1/models/{name}/predict", "/v2/models/{name}/infer", "/metrics"):
            assert path in paths
        body = paths["/v1/models/{name}/predict"]["post"]["requestBody"]
        assert "instances" in body["content"]["application/json"]["schema"]["properties"]


def test_metrics_and_prediction_log(workspace: Workspace, model_dirs: dict[str, Path]) -> None:
    with running(_one(workspace, model_dirs), workspace) as srv:
        ok = predict(srv.base, "fraud", [row(0), row(1)]).json()
        bad = predict(srv.base, "fraud", [{"f0": "x"}])
        assert bad.status_code == 422
        labels = {"deployment": "fraud", "model": "fraud", "version": "1", "variant": "default"}
        assert metric(srv.base, "modelyard_requests_total", **labels, code="200") == 1
        assert metric(srv.base, "modelyard_requests_total", **labels, code="422") == 1
        assert metric(srv.base, "modelyard_predicted_rows_total", **labels) == 2
        assert metric(srv.base, "modelyard_request_latency_seconds_count", **labels) == 1
        assert metric(srv.base, "modelyard_errors_total", **labels, kind="invalid") == 1
        unknown = predict(srv.base, "nope", [row(0)])  # refused before a variant was chosen
        assert unknown.status_code == 404
        nothing = {"deployment": "nope", "model": "", "version": "", "variant": ""}
        assert metric(srv.base, "modelyard_errors_total", **nothing, kind="not_found") == 1
        assert metric(srv.base, "modelyard_batch_size_sum", **labels) == 2
        assert metric(srv.base, "modelyard_batch_seconds_count", **labels) == 1
        text = httpx.get(srv.url("/metrics")).text
        for gauge in ("modelyard_queue_depth", "modelyard_circuit_open"):
            assert (
                f'{gauge}{{deployment="fraud",model="fraud",variant="default",version="1"}}' in text
            )
        assert "modelyard_models_loaded 1.0" in text
        assert "modelyard_prediction_log_buffered_rows 3.0" in text
        # nothing written yet (flush_interval_s is an hour): the log is flushed on shutdown
        assert workspace.logs.read("predictions") is None
    table = workspace.logs.read("predictions", partition={"model": "fraud"})
    assert table is not None and table.num_rows == 3
    logged = table.to_pylist()
    oks = [r for r in logged if r["status"] == "ok"]
    assert [r["prediction_id"] for r in oks] == ok["prediction_ids"]
    assert [r["prediction"] for r in oks] == [float(p) for p in ok["predictions"]]
    assert oks[0]["proba"] == pytest.approx(ok["probabilities"][0][1])
    assert oks[1]["input.f7"] == pytest.approx(row(1)["f7"])
    assert {r["variant"] for r in logged} == {"default"} and oks[0]["version"] == 1
    error = next(r for r in logged if r["status"] == "rejected")  # a 422: not an error
    assert error["error"] == "SpecError" and error["prediction"] is None
    assert error["input.f0"] is None and error["latency_ms"] >= 0


def test_many_models_lazily_loaded_with_lru_eviction(
    workspace: Workspace, model_dirs: dict[str, Path]
) -> None:
    for name, directory in (("a", "hgb"), ("b", "logreg"), ("c", "logreg_b")):
        register(workspace, model_dirs[directory], name, "production")
    spec = {
        "server": {"models": {"max_models": 2}},
        "deployments": {n: {"model": f"models:/{n}@production"} for n in "abc"},
    }
    with running(spec, workspace) as srv:
        assert not any(
            v["loaded"] for d in httpx.get(srv.url("/v1/models")).json() for v in d["variants"]
        )
        for name in "abcab":
            assert predict(srv.base, name, [row(0)]).status_code == 200
        loaded = {
            d["name"] for d in httpx.get(srv.url("/v1/models")).json() if d["variants"][0]["loaded"]
        }
        assert loaded == {"a", "b"}
        assert metric(srv.base, "modelyard_models_loaded") == 2
        for name in "abc":
            assert metric(srv.base, "modelyard_model_evictions_total", model=name) == 1


def test_feedback_for_fresh_predictions(workspace: Workspace, model_dirs: dict[str, Path]) -> None:
    """POST /v1/feedback on the model server: labels for ids it has just answered with are
    accepted at once (the buffered prediction log is flushed first); unknown ids are reported."""
    from modelyard.monitoring import labelled, read_feedback

    with running(_one(workspace, model_dirs), workspace) as srv:
        body = predict(srv.base, "fraud", [row(i) for i in range(4)]).json()
        ids = body["prediction_ids"]
        labels = [{"prediction_id": pid, "label": i % 2} for i, pid in enumerate(ids)]
        got = httpx.post(
            srv.url("/v1/feedback"),
            json={"feedback": [*labels, {"prediction_id": "no-such-id", "label": 1}]},
        )
        assert got.status_code == 200, got.text
        result = got.json()
        assert result["accepted"] == 4 and result["unknown_ids"] == ["no-such-id"]
        wrong = httpx.post(
            srv.url("/v1/feedback"), json={"feedback": [{"prediction_id": ids[0], "label": "x"}]}
        )
        assert wrong.status_code == 422 and wrong.json()["refused"][0]["field"] == "label"
    window = workspace.logs.read("predictions", partition={"model": "fraud"})
    assert window is not None
    joined = labelled(window, read_feedback(workspace))
    assert sorted(joined.column("label").to_pylist()) == [0, 0, 1, 1]
