"""A version registered by a pipeline carries the profile of its raw inputs and predictions."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from modelyard.monitoring import PROFILE_TAG, detect_drift, load_profile
from modelyard.pipeline import run
from modelyard.registry import RegistryClient
from modelyard.storage import Workspace
from modelyard.tracking import TrackingClient
from tests.pipeline.helpers import spec, write_data


def test_pipeline_registration_stores_a_profile_of_the_signature_inputs(
    workspace: Workspace, tmp_path: Path
) -> None:
    write_data(tmp_path, rows=1200)
    raw = spec()
    raw["train"]["params"]["n_estimators"] = 10
    result = run(raw, workspace=workspace, base_dir=str(tmp_path))
    version = result.model_version
    assert version is not None
    profile = load_profile(workspace, version.name, version.version)
    inputs = [c["name"] for c in version.signature["inputs"]]
    assert list(profile.features) == inputs
    assert profile.features["amount"].kind == "numeric"
    assert profile.features["channel"].kind == "categorical"
    assert profile.features["event_ts"].kind == "datetime"
    assert profile.predictions is not None and profile.predictions.name == "proba"
    train_rows = TrackingClient(workspace).get_run(result.run_id).metrics["data.train_rows"]
    assert profile.n_rows == profile.features["amount"].rows == train_rows

    # the model's own training rows, as the server would log them, show no drift
    frame = pd.read_parquet(tmp_path / "data" / "tx.parquet")
    log = frame.rename(columns={c: f"input.{c}" for c in inputs}).head(1000)
    report = detect_drift(profile, log)
    assert report.status == "ok" and {f.feature for f in report.features} == set(inputs) - {
        "event_ts"
    }

    # a cached re-run reuses the version and its profile
    again = run(raw, workspace=workspace, base_dir=str(tmp_path))
    assert again.model_version is not None and again.model_version.version == version.version
    assert PROFILE_TAG in RegistryClient(workspace).get_version(version.name, version.version).tags
