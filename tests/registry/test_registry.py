"""The registry client: register, alias, promote with hooks and signed webhooks, load by URI."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import modelyard
from modelyard.config import Settings
from modelyard.errors import IntegrityError, InvalidModelURIError, NotFoundError
from modelyard.flavors import save_model
from modelyard.registry import (
    ModelRef,
    PromotionEvent,
    RegistryClient,
    RunRef,
    parse_model_uri,
    verify_signature,
)
from modelyard.storage import Workspace
from modelyard.tracking import TrackingClient


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    return X, pd.Series((X.a + X.b > 0).astype(int))


def logged_model(ws: Workspace, data: Any, c: float = 1.0) -> str:
    from sklearn.linear_model import LogisticRegression

    X, y = data
    with TrackingClient(ws).start_run("reg") as run:
        run.log_metric("auc", 0.9 + c / 100)
        return run.log_model(LogisticRegression(C=c).fit(X, y), "model", sample=X.head()).uri


def test_register_from_a_run_and_load_by_alias(workspace: Workspace, data: Any) -> None:
    registry = RegistryClient(workspace)
    uri = logged_model(workspace, data)
    v1 = registry.register_model(uri, "fraud", description="first", tags={"owner": "risk"})
    assert (v1.version, v1.flavor, v1.source) == (1, "sklearn", uri)
    assert v1.metrics == {"auc": pytest.approx(0.91)}
    assert set(v1.files) == {"model.skops", "MODEL.yaml"}
    assert v1.signature["inputs"][0]["name"] == "a"
    registry.promote("fraud", 1, "production", reason="launch")
    model = registry.load_model("models:/fraud@production")
    X, _ = data
    assert model.predict(X.head(10)).shape == (10,)
    assert registry.load_model("models:/fraud/1").predict_proba(X.head(2)).shape == (2, 2)
    assert registry.load_model("models:/fraud/latest").flavor == "sklearn"
    assert registry.load_model(uri).flavor == "sklearn"  # runs:/ works too


def test_register_from_a_local_directory(workspace: Workspace, data: Any, tmp_path: Path) -> None:
    from sklearn.tree import DecisionTreeClassifier

    X, y = data
    save_model(DecisionTreeClassifier().fit(X, y), tmp_path / "m", sample=X)
    v = RegistryClient(workspace).register_model(str(tmp_path / "m"), "tree")
    assert "/registry/tree/" in v.artifact_uri and v.run_id is None
    (tmp_path / "m" / "model.skops").write_bytes(b"changed locally does not matter")
    assert RegistryClient(workspace).load_model("models:/tree/1").predict(X.head(3)).shape == (3,)


def test_tampering_after_registration_is_refused(workspace: Workspace, data: Any) -> None:
    registry = RegistryClient(workspace)
    v = registry.register_model(logged_model(workspace, data), "fraud")
    payload = Path(v.artifact_uri.removeprefix("file://")) / "model.skops"
    raw = bytearray(payload.read_bytes())
    raw[100] ^= 0xFF
    payload.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match="modified or corrupted"):
        registry.load_model("models:/fraud/1")


def test_a_run_model_is_checked_against_the_hashes_its_run_recorded(
    workspace: Workspace, data: Any
) -> None:
    """Rewriting a logged model's payload and its MODEL.yaml hash (consistent with itself) is
    caught by the sha256 the run recorded for each artifact when the model was logged."""
    import hashlib

    import yaml

    registry = RegistryClient(workspace)
    uri = logged_model(workspace, data)
    other = parse_model_uri(logged_model(workspace, data, c=5.0))
    ref = parse_model_uri(uri)
    assert isinstance(ref, RunRef) and isinstance(other, RunRef)
    tracking = workspace.metadata.tracking
    model_dir = Path(tracking.get_run(ref.run_id).artifact_uri.removeprefix("file://")) / "model"
    donor = Path(tracking.get_run(other.run_id).artifact_uri.removeprefix("file://")) / "model"
    payload = (donor / "model.skops").read_bytes()
    (model_dir / "model.skops").write_bytes(payload)
    manifest = yaml.safe_load((model_dir / "MODEL.yaml").read_text())
    manifest["files"]["model.skops"]["sha256"] = hashlib.sha256(payload).hexdigest()
    (model_dir / "MODEL.yaml").write_text(yaml.safe_dump(manifest))
    modelyard.load_model(str(model_dir))  # consistent with itself ...
    with pytest.raises(IntegrityError, match=f"run {ref.run_id}'s artifact record"):
        registry.load_model(uri)  # ... but not with the run's record
    with pytest.raises(IntegrityError, match=f"run {ref.run_id}'s artifact record"):
        registry.register_model(uri, "fraud")


def test_promotion_history_and_periods(workspace: Workspace, data: Any) -> None:
    registry = RegistryClient(workspace)
    for c in (0.1, 1.0, 10.0):
        registry.register_model(logged_model(workspace, data, c), "fraud")
    registry.promote("fraud", 1, "production", reason="launch")
    registry.promote("fraud", 2, "staging", reason="candidate")
    registry.promote("fraud", 2, "production", reason="better auc")
    registry.promote("fraud", 3, "production", reason="retrained")
    assert registry.get_model("fraud").aliases == {"production": 3}
    periods = registry.stage_periods("fraud", "production")
    assert [(p.version, p.end is None, p.reason) for p in periods] == [
        (1, False, "launch"),
        (2, False, "better auc"),
        (3, True, "retrained"),
    ]
    assert periods[0].end == periods[1].start
    assert [v.stage for v in registry.list_versions("fraud")] == [
        "archived",
        "archived",
        "production",
    ]


def test_in_process_hooks(workspace: Workspace, data: Any) -> None:
    registry = RegistryClient(workspace)
    events: list[PromotionEvent] = []
    registry.add_hook(events.append)
    registry.add_hook(lambda e: 1 / 0)  # a failing hook is logged, not fatal  # type: ignore[func-returns-value]
    for _ in range(2):
        registry.register_model(logged_model(workspace, data), "fraud")
    registry.promote("fraud", 1, "production")
    registry.promote("fraud", 2, "production", reason="v2")
    assert [(e.version, e.to_stage, e.archived_versions) for e in events] == [
        (1, "production", []),
        (2, "production", [1]),
    ]
    assert events[1].reason == "v2" and events[1].actor == workspace.user


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"received": [], "status": 200})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", handler
    server.shutdown()


def test_webhook_is_signed_and_delivered(workspace: Workspace, data: Any, receiver: Any) -> None:
    url, handler = receiver
    registry = RegistryClient(workspace)
    hook = registry.add_webhook(url, model_name="fraud")
    registry.register_model(logged_model(workspace, data), "fraud")
    registry.register_model(logged_model(workspace, data), "other")
    registry.promote("other", 1, "production")  # not this hook's model
    registry.promote("fraud", 1, "production", reason="go")
    assert len(handler.received) == 1
    headers, body = handler.received[0]
    payload = json.loads(body)
    assert payload["event"] == "model_version.promoted"
    assert (payload["name"], payload["version"], payload["to_stage"], payload["reason"]) == (
        "fraud",
        1,
        "production",
        "go",
    )
    assert verify_signature(
        hook.secret, headers["X-Modelyard-Timestamp"], body, headers["X-Modelyard-Signature"]
    )
    assert not verify_signature(
        "wrong", headers["X-Modelyard-Timestamp"], body, headers["X-Modelyard-Signature"]
    )
    assert not verify_signature(
        hook.secret, headers["X-Modelyard-Timestamp"], body + b" ", headers["X-Modelyard-Signature"]
    )
    delivery = workspace.metadata.audit.list_events(action="webhook.delivery")[0]
    assert delivery.details["delivered"] is True


def test_failed_webhook_does_not_undo_the_promotion(
    workspace: Workspace, data: Any, receiver: Any
) -> None:
    url, handler = receiver
    handler.status = 500
    registry = RegistryClient(workspace)
    registry.add_webhook(url)
    registry.register_model(logged_model(workspace, data), "fraud")
    registry.promote("fraud", 1, "production")
    assert registry.resolve("models:/fraud@production").version == 1
    assert len(handler.received) == 3  # retried
    delivery = workspace.metadata.audit.list_events(action="webhook.delivery")[0]
    assert delivery.details == {**delivery.details, "delivered": False, "detail": "HTTP 500"}


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("models:/fraud@production", ModelRef("fraud", alias="production")),
        ("models:/fraud/3", ModelRef("fraud", version=3)),
        ("models:/fraud/latest", ModelRef("fraud", alias="latest")),
        ("runs:/" + "a" * 32 + "/model", RunRef("a" * 32, "model")),
        ("runs:/" + "a" * 32 + "/nested/dir", RunRef("a" * 32, "nested/dir")),
        ("s3://bucket/model", "s3://bucket/model"),
    ],
)
def test_model_uris(uri: str, expected: object) -> None:
    assert parse_model_uri(uri) == expected


@pytest.mark.parametrize("uri", ["models:/", "models:/a/b/c", "models:/a@", "runs:/short/model"])
def test_bad_model_uris(uri: str) -> None:
    with pytest.raises(InvalidModelURIError):
        parse_model_uri(uri)


def test_unknown_names_are_clear(workspace: Workspace) -> None:
    registry = RegistryClient(workspace)
    with pytest.raises(NotFoundError, match="No registered model named 'nope'"):
        registry.load_model("models:/nope@production")


def test_s3_workspace_end_to_end(s3_bucket: tuple[str, str], tmp_path: Path, data: Any) -> None:
    endpoint, bucket = s3_bucket
    ws = Workspace(
        Settings.resolve(
            home=str(tmp_path / "h"), artifact_uri=f"s3://{bucket}/ml", s3_endpoint_url=endpoint
        )
    )
    uri = logged_model(ws, data)
    run_id = uri.split("/")[1]
    assert TrackingClient(ws).get_run(run_id).artifact_uri.startswith(f"s3://{bucket}/ml/")
    registry = RegistryClient(ws)
    registry.register_model(uri, "fraud")
    registry.promote("fraud", 1, "production")
    X, _ = data
    model = registry.load_model("models:/fraud@production")
    assert model.predict(X.head(4)).shape == (4,)
    cached = list((tmp_path / "h" / "cache" / "models").iterdir())
    assert len(cached) == 1 and (cached[0] / "MODEL.yaml").is_file()
    # a corrupted cache is detected and downloaded again
    (cached[0] / "model.skops").write_bytes(b"garbage")
    assert registry.load_model("models:/fraud@production").predict(X.head(4)).shape == (4,)


def test_top_level_functions(data: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = data
    with modelyard.start_run("top") as run:
        logged = run.log_model(LogisticRegression().fit(X, y), "model", sample=X.head())
    version = modelyard.register_model(logged.uri, "top")
    modelyard.promote("top", version.version, "production", reason="top-level API")
    assert modelyard.load_model("models:/top@production").predict(X.head(2)).shape == (2,)


def shout(X: Any) -> Any:
    """A function by import path: loading a model that holds it builds it, so it needs approval."""
    return X * 2


def test_declared_types_need_approval_to_register(
    workspace: Workspace, data: Any, tmp_path: Path
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from modelyard.errors import UntrustedModelError

    X, y = data
    model = Pipeline([("f", FunctionTransformer(shout)), ("m", LogisticRegression())]).fit(X, y)
    save_model(model, tmp_path / "m", sample=X.head())
    registry = RegistryClient(workspace)
    name = f"{__name__}.shout"
    with pytest.raises(UntrustedModelError, match=name) as caught:
        registry.register_model(str(tmp_path / "m"), "custom")
    assert caught.value.details["untrusted_types"] == [name]
    with pytest.raises(NotFoundError):  # nothing was registered
        registry.get_model("custom")
    version = registry.register_model(str(tmp_path / "m"), "custom", trusted_types=[name])
    assert version.tags["modelyard.trusted_types"] == name
    # approved at registration: the version loads by URI without trust=True
    assert registry.load_model("models:/custom/1").predict(X.head(3)).shape == (3,)
