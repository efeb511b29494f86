"""Reference profiles: what they hold, bytes round trip, the artifact store (file and S3),
tampering, a version without one, and registration with ``reference=``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard.config import Settings
from modelyard.entities import ModelVersion
from modelyard.entities.drift import FeatureProfile
from modelyard.errors import IntegrityError, InvalidArgumentError, NotFoundError
from modelyard.flavors import save_model
from modelyard.monitoring import (
    PROFILE_TAG,
    SKETCH_SIZE,
    Profile,
    build_profile,
    detect_drift,
    load_profile,
    profile_location,
    save_profile,
)
from modelyard.monitoring.profile import canonical_feature
from modelyard.registry import RegistryClient
from modelyard.storage import Workspace


def training(n: int = 500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3, 1, n)
    amount[::10] = np.nan
    return pd.DataFrame(
        {
            "amount": amount,
            "hour": rng.integers(0, 24, n),
            "channel": pd.Categorical(rng.choice(["web", "pos"], n)),
            "country": rng.choice(["FR", "DE", None], n),
            "is_new": rng.random(n) < 0.2,
        }
    )


def registered(
    ws: Workspace, tmp_path: Path, name: str = "fraud", **kwargs: object
) -> ModelVersion:
    X = training()[["hour"]]
    y = (X.hour > 12).astype(int)
    save_model(LogisticRegression().fit(X, y), tmp_path / name, sample=X, overwrite=True)
    return RegistryClient(ws).register_model(str(tmp_path / name), name, **kwargs)


def test_a_profile_holds_what_the_tests_need() -> None:
    data = training()
    profile = build_profile(
        data, predictions=np.linspace(0, 1, len(data)), prediction_column="proba"
    )
    assert profile.n_rows == 500 and profile.created_at > 0
    amount = profile.features["amount"]
    assert (amount.kind, amount.dtype, amount.count, amount.missing) == (
        "numeric",
        "float",
        450,
        50,
    )
    assert amount.missing_rate == 0.1
    valid = data.amount.dropna()
    assert amount.summary["mean"] == pytest.approx(valid.mean())
    assert amount.summary["std"] == pytest.approx(valid.std(ddof=0))
    assert amount.summary["p50"] == pytest.approx(valid.median())
    assert (amount.summary["min"], amount.summary["max"]) == (valid.min(), valid.max())
    assert amount.sketch_exact and len(amount.sketch_values) == valid.nunique()
    assert amount.sketch_cum[-1] == 450 and amount.bin_counts.sum() == 450
    assert len(amount.bin_edges) == 9 and len(amount.bin_counts) == 10
    hour = profile.features["hour"]
    assert (hour.kind, hour.dtype) == ("numeric", "integer")
    channel = profile.features["channel"]
    assert channel.kind == "categorical" and set(channel.categories) == {"web", "pos"}
    assert sum(channel.frequencies().values()) == pytest.approx(1.0)
    country = profile.features["country"]
    assert country.missing == int(data.country.isna().sum())
    assert profile.features["is_new"].categories[0] in ("1", "0")  # booleans as 1 / 0
    assert profile.predictions is not None and profile.predictions.name == "proba"


def test_integer_codes_can_be_declared_categorical() -> None:
    profile = build_profile(training(), categorical=["hour"])
    assert profile.features["hour"].kind == "categorical"
    assert len(profile.features["hour"].categories) == 24
    with pytest.raises(InvalidArgumentError, match="did you mean 'hour'"):
        build_profile(training(), categorical=["hours"])


def test_large_columns_keep_a_quantile_sketch_with_exact_counts() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=3 * SKETCH_SIZE)
    feature = build_profile(pd.DataFrame({"x": values})).features["x"]
    assert not feature.sketch_exact and len(feature.sketch_values) == SKETCH_SIZE + 1
    ordered = np.sort(values)
    np.testing.assert_array_equal(
        feature.sketch_cum, np.searchsorted(ordered, feature.sketch_values, side="right")
    )
    assert feature.sketch_values[0] == ordered[0] and feature.sketch_values[-1] == ordered[-1]


def test_arrow_tables_and_log_windows_profile_like_frames() -> None:
    data = training()
    from_frame = build_profile(data)
    from_arrow = build_profile(pa.Table.from_pandas(data, preserve_index=False))
    for name in data.columns:
        a, b = from_frame.features[name], from_arrow.features[name]
        assert (a.kind, a.count, a.missing, a.categories) == (
            b.kind,
            b.count,
            b.missing,
            b.categories,
        )
        np.testing.assert_array_equal(a.sketch_values, b.sketch_values)
    log = pd.DataFrame({"prediction": np.ones(len(data)), **{f"input.{c}": data[c] for c in data}})
    from_log = build_profile(log)
    assert list(from_log.features) == list(data.columns)
    assert from_log.predictions is not None and from_log.predictions.name == "prediction"


def test_bytes_round_trip_is_exact_and_json() -> None:
    profile = build_profile(
        training(), predictions=np.arange(500) % 3, prediction_column="prediction"
    )
    data = profile.to_bytes()
    assert json.loads(data)["format"] == "modelyard.profile/1"
    back = Profile.from_bytes(data)
    assert back == profile and back.to_bytes() == data
    for name, feature in profile.features.items():
        np.testing.assert_array_equal(back.features[name].sketch_values, feature.sketch_values)
    assert back.predictions is not None and back.predictions.kind == "categorical"
    with pytest.raises(ValueError, match="invalid JSON"):
        Profile.from_bytes(b"\x80not json")
    doc = json.loads(data)
    doc["features"][0]["sketch_values"]["dtype"] = "|O"  # never objects from a file
    with pytest.raises(ValueError, match="not a number type"):
        Profile.from_bytes(json.dumps(doc).encode())
    with pytest.raises(ValueError, match="not a modelyard.profile/1 document"):
        Profile.from_bytes(b'{"format": "something else"}')


def test_bad_data_is_a_clear_error() -> None:
    with pytest.raises(InvalidArgumentError, match="no rows"):
        build_profile(training().iloc[:0])
    with pytest.raises(InvalidArgumentError, match="no columns"):
        build_profile(pd.DataFrame())
    with pytest.raises(InvalidArgumentError, match="DataFrame"):
        build_profile([1, 2, 3])
    with pytest.raises(InvalidArgumentError, match="positive class"):
        build_profile(training(), predictions=np.zeros((500, 2)))


def test_save_and_load_through_the_file_store(workspace: Workspace, tmp_path: Path) -> None:
    version = registered(workspace, tmp_path)
    profile = build_profile(training())
    uri = save_profile(workspace, "fraud", version.version, profile)
    assert uri.startswith("file://") and f"profiles/fraud/{version.version}/" in uri
    assert load_profile(workspace, "fraud", version.version) == profile
    record = json.loads(RegistryClient(workspace).get_version("fraud", 1).tags[PROFILE_TAG])
    assert record["uri"] == uri and len(record["sha256"]) == 64


def test_a_profile_saved_with_boolean_keys_is_read_with_todays(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Profiles saved before booleans were keyed 1 / 0 said "True" / "False": they still match
    the same flag logged as bool or as 0 / 1 (and a "True" beside a "1" merges)."""
    registered(workspace, tmp_path)
    profile = build_profile(pd.DataFrame({"flag": [True, False, True] * 30}))
    old = json.loads(profile.to_bytes())
    assert old["features"][0]["categories"] == ["1", "0"]
    old["features"][0]["categories"] = ["True", "False"]
    old["features"][0]["summary"]["n_categories"] = 2.0
    save_profile(workspace, "fraud", 1, Profile.from_dict(old))
    loaded = load_profile(workspace, "fraud", 1)
    assert loaded.features["flag"].categories == ("1", "0")
    assert list(loaded.features["flag"].category_counts) == [60, 30]
    for current in ([True, False, True] * 30, [1, 0, 1] * 30):
        report = detect_drift(loaded, pd.DataFrame({"flag": current}))
        assert not report.features[0].drifted, report.features[0].message
    mixed = dict(
        old["features"][0],
        categories=["True", "1", "False"],
        category_counts=[40, 20, 30],
        summary={"n_categories": 3.0},
    )
    merged = canonical_feature(FeatureProfile.from_dict(mixed))
    assert merged.categories == ("1", "0") and list(merged.category_counts) == [60, 30]
    assert merged.summary["n_categories"] == 2.0


def test_an_altered_profile_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    registered(workspace, tmp_path)
    uri = save_profile(workspace, "fraud", 1, build_profile(training()))
    path = Path(uri.removeprefix("file://"))
    path.write_bytes(path.read_bytes().replace(b'"n_rows":500', b'"n_rows":501'))
    with pytest.raises(IntegrityError, match="was changed after it was saved"):
        load_profile(workspace, "fraud", 1)
    path.unlink()
    with pytest.raises(NotFoundError, match="is gone"):
        load_profile(workspace, "fraud", 1)


def test_a_version_without_a_profile_says_how_to_add_one(
    workspace: Workspace, tmp_path: Path
) -> None:
    registered(workspace, tmp_path)
    with pytest.raises(NotFoundError) as info:
        load_profile(workspace, "fraud", 1)
    message = str(info.value)
    assert "fraud v1 has no reference profile" in message
    assert "modelyard.monitoring.save_profile(workspace, 'fraud', 1" in message
    with pytest.raises(NotFoundError):
        load_profile(workspace, "fraud", 7)  # no such version: the registry's own message
    with pytest.raises(NotFoundError):
        profile_location(workspace, "nope", 1)


def test_register_model_with_a_reference(workspace: Workspace, tmp_path: Path) -> None:
    version = registered(workspace, tmp_path, reference=training())
    assert PROFILE_TAG in version.tags
    profile = load_profile(workspace, "fraud", version.version)
    assert list(profile.features) == list(training().columns)
    report = detect_drift(profile, training(seed=1))
    assert report.status == "ok" and not report.dataset_drift
    prebuilt = build_profile(training(), predictions=np.zeros(500))
    again = registered(workspace, tmp_path, reference=prebuilt)
    assert load_profile(workspace, "fraud", again.version) == prebuilt


def test_bad_reference_registers_nothing(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError):
        registered(workspace, tmp_path, reference=training().iloc[:0])
    assert RegistryClient(workspace).list_models() == []


@pytest.mark.s3
def test_save_and_load_through_s3(tmp_path: Path, s3_bucket: tuple[str, str]) -> None:
    endpoint, bucket = s3_bucket
    ws = Workspace(
        Settings.resolve(
            home=str(tmp_path / "home"),
            artifact_uri=f"s3://{bucket}/artifacts",
            s3_endpoint_url=endpoint,
        )
    )
    try:
        registered(ws, tmp_path)
        profile = build_profile(training())
        uri = save_profile(ws, "fraud", 1, profile)
        assert uri.startswith(f"s3://{bucket}/artifacts/profiles/fraud/1/")
        assert load_profile(ws, "fraud", 1) == profile
        store = ws.artifact_store_for(uri)
        store.put_bytes(profile.to_bytes().replace(b"500", b"499", 1), uri)
        with pytest.raises(IntegrityError):
            load_profile(ws, "fraud", 1)
    finally:
        ws.close()
