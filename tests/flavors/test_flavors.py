"""save_model / load_model for every flavor: same predictions, hashes checked, no pickle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from modelyard.errors import (
    AlreadyExistsError,
    IntegrityError,
    InvalidArgumentError,
    NotFoundError,
    UntrustedModelError,
)
from modelyard.flavors import MANIFEST, load_model, manifest_sha256, read_manifest, save_model


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "amount": rng.gamma(2.0, 50.0, 400),
            "hour": rng.integers(0, 24, 400),
            "channel": pd.Categorical(rng.choice(["pos", "online", "atm"], 400)),
        }
    )
    y = pd.Series(((X.amount > 120) ^ (X.channel == "online")).astype(int), name="y")
    return X, y


def _sklearn_pipeline() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), ["amount", "hour"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["channel"]),
        ]
    )
    return Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=500))])


def _lgbm_pipeline() -> Any:
    import lightgbm as lgb
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    prep = ColumnTransformer(
        [
            (
                "cat",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                ["channel"],
            )
        ],
        remainder="passthrough",
    )
    return Pipeline([("prep", prep), ("model", lgb.LGBMClassifier(n_estimators=20, verbose=-1))])


def _models() -> dict[str, Any]:
    import lightgbm as lgb
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    out: dict[str, Any] = {
        "sklearn-pipeline": ("sklearn", _sklearn_pipeline()),
        "sklearn-pipeline-lgbm": ("sklearn", _lgbm_pipeline()),
        "sklearn-hgb": (
            "sklearn",
            HistGradientBoostingClassifier(max_iter=20, categorical_features="from_dtype"),
        ),
        "sklearn-regressor": (
            "sklearn",
            HistGradientBoostingRegressor(max_iter=10, categorical_features="from_dtype"),
        ),
        "lightgbm-classifier": ("lightgbm", lgb.LGBMClassifier(n_estimators=20, verbose=-1)),
        "lightgbm-regressor": ("lightgbm", lgb.LGBMRegressor(n_estimators=20, verbose=-1)),
    }
    try:
        import xgboost as xgb

        out["xgboost-classifier"] = (
            "xgboost",
            xgb.XGBClassifier(n_estimators=10, enable_categorical=True),
        )
        out["xgboost-regressor"] = (
            "xgboost",
            xgb.XGBRegressor(n_estimators=10, enable_categorical=True),
        )
    except ImportError:  # the xgboost extra is optional
        pass
    return out


MODELS = _models()


@pytest.mark.parametrize("key", sorted(MODELS))
def test_round_trip_predicts_the_same(key: str, data: Any, tmp_path: Path) -> None:
    flavor, model = MODELS[key]
    X, y = data
    target = y.astype(float) * 3.5 if "regressor" in key else y
    fitted = model.fit(X, target)
    manifest = save_model(fitted, tmp_path / "m", sample=X.head(50))
    assert manifest.flavor == flavor
    loaded = load_model(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict(X), fitted.predict(X), rtol=1e-6)
    if hasattr(fitted, "predict_proba") and "regressor" not in key:
        assert loaded.has_proba
        np.testing.assert_allclose(loaded.predict_proba(X), fitted.predict_proba(X), rtol=1e-5)
        assert loaded.classes == [0, 1]
    else:
        assert not loaded.has_proba
        with pytest.raises(InvalidArgumentError, match="no predict_proba"):
            loaded.predict_proba(X)
    # records in, JSON-ish types (strings for categories, columns in another order): same answer
    records = X.head(7).assign(channel=X.channel.head(7).astype(str))[["channel", "hour", "amount"]]
    np.testing.assert_allclose(
        loaded.predict(records.to_dict("records")), fitted.predict(X.head(7)), rtol=1e-6
    )


def test_manifest_contents(data: Any, tmp_path: Path) -> None:
    X, y = data
    model = _sklearn_pipeline().fit(X, y)
    save_model(
        model, tmp_path / "m", sample=X, metadata={"owner": "risk"}, lineage={"run_id": "r1"}
    )
    raw = yaml.safe_load((tmp_path / "m" / MANIFEST).read_text())
    assert raw["flavor"] == "sklearn"
    assert set(raw["files"]) == {"model.skops"}
    assert len(raw["files"]["model.skops"]["sha256"]) == 64
    assert raw["libraries"]["scikit-learn"] and raw["libraries"]["python"]
    inputs = {c["name"]: c for c in raw["signature"]["inputs"]}
    assert inputs["amount"]["type"] == "float"
    assert inputs["hour"]["type"] == "integer"
    assert inputs["channel"]["type"] == "category"
    assert sorted(inputs["channel"]["categories"]) == ["atm", "online", "pos"]
    assert [o["name"] for o in raw["signature"]["outputs"]] == ["prediction", "probabilities"]
    assert raw["metadata"] == {"owner": "risk"} and raw["lineage"] == {"run_id": "r1"}
    assert not list((tmp_path / "m").glob("*.pkl"))


def test_tampered_payload_is_refused(data: Any, tmp_path: Path) -> None:
    X, y = data
    save_model(_sklearn_pipeline().fit(X, y), tmp_path / "m", sample=X)
    payload = tmp_path / "m" / "model.skops"
    data_bytes = bytearray(payload.read_bytes())
    data_bytes[len(data_bytes) // 2] ^= 0xFF  # flip one byte
    payload.write_bytes(bytes(data_bytes))
    with pytest.raises(IntegrityError, match="modified or corrupted"):
        load_model(tmp_path / "m")


def test_missing_file_and_missing_manifest(data: Any, tmp_path: Path) -> None:
    import lightgbm as lgb

    X, y = data
    save_model(lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, y), tmp_path / "m")
    (tmp_path / "m" / "model.lgb.txt").unlink()
    with pytest.raises(IntegrityError, match="missing"):
        load_model(tmp_path / "m")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFoundError, match="no MODEL.yaml"):
        load_model(tmp_path / "empty")
    with pytest.raises(NotFoundError):
        load_model(tmp_path / "nowhere")


def test_manifest_edits_are_caught_by_the_registry_hashes(data: Any, tmp_path: Path) -> None:
    """Rewriting a payload AND its manifest hash passes the manifest check, but not the hashes
    recorded elsewhere (the registry)."""
    import hashlib

    X, y = data
    save_model(_sklearn_pipeline().fit(X, y), tmp_path / "m", sample=X)
    expected = {
        "model.skops": read_manifest(tmp_path / "m").files["model.skops"]["sha256"],
        MANIFEST: manifest_sha256(tmp_path / "m"),
    }
    other = tmp_path / "other"
    save_model(_sklearn_pipeline().fit(X, 1 - y), other, sample=X)
    payload = (other / "model.skops").read_bytes()
    (tmp_path / "m" / "model.skops").write_bytes(payload)
    manifest = yaml.safe_load((tmp_path / "m" / MANIFEST).read_text())
    manifest["files"]["model.skops"]["sha256"] = hashlib.sha256(payload).hexdigest()
    (tmp_path / "m" / MANIFEST).write_text(yaml.safe_dump(manifest))
    load_model(tmp_path / "m")  # consistent with itself ...
    with pytest.raises(IntegrityError, match="changed after the registry recorded it"):
        load_model(tmp_path / "m", expected_files=expected)  # ... but not with the registry


def double(X: Any) -> Any:
    """A custom feature function: not on skops' safe list."""
    return X * 2


def test_unknown_types_need_trust(data: Any, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y = data
    model = Pipeline([("f", FunctionTransformer(double)), ("m", LogisticRegression())])
    manifest = save_model(model.fit(X[["amount", "hour"]], y), tmp_path / "m")
    name = f"{__name__}.double"
    assert manifest.trusted_types == [name]
    with pytest.raises(UntrustedModelError, match=name):
        load_model(tmp_path / "m")
    assert load_model(tmp_path / "m", trusted_types=[name]).predict(
        X[["amount", "hour"]]
    ).shape == (400,)
    assert load_model(tmp_path / "m", trust=True) is not None


def test_pickle_flavor_is_opt_in_both_ways(data: Any, tmp_path: Path) -> None:
    from sklearn.dummy import DummyClassifier

    X, y = data
    save_model(DummyClassifier().fit(X, y), tmp_path / "p", flavor="pickle")
    with pytest.raises(UntrustedModelError, match="pickle"):
        load_model(tmp_path / "p")
    assert load_model(tmp_path / "p", trust=True).predict(X).shape == (400,)


def test_save_errors(data: Any, tmp_path: Path) -> None:
    X, y = data
    model = _sklearn_pipeline().fit(X, y)
    save_model(model, tmp_path / "m")
    with pytest.raises(AlreadyExistsError, match="overwrite=True"):
        save_model(model, tmp_path / "m")
    save_model(model, tmp_path / "m", overwrite=True)
    with pytest.raises(InvalidArgumentError, match="No flavor can save"):
        save_model(object(), tmp_path / "o")
    with pytest.raises(InvalidArgumentError, match="Unknown model flavor 'onnxx'"):
        save_model(model, tmp_path / "q", flavor="onnxx")
    assert not (tmp_path / "o").exists()


def test_signature_rejects_missing_and_mistyped_columns(data: Any, tmp_path: Path) -> None:
    X, y = data
    save_model(_sklearn_pipeline().fit(X, y), tmp_path / "m", sample=X)
    model = load_model(tmp_path / "m")
    with pytest.raises(InvalidArgumentError, match="missing column.*'hour'"):
        model.predict([{"amount": 1.0, "channel": "pos"}])
    with pytest.raises(InvalidArgumentError, match="'amount' must be float"):
        model.predict([{"amount": "lots", "hour": 3, "channel": "pos"}])


def test_manifest_records_the_libraries_of_every_type_inside(data: Any, tmp_path: Path) -> None:
    import lightgbm as lgb
    import sklearn

    X, y = data
    model = _lgbm_pipeline().fit(X, y)
    libraries = save_model(model, tmp_path / "m").libraries
    assert libraries["lightgbm"] == lgb.__version__
    assert libraries["scikit-learn"] == sklearn.__version__
    # a pickle records them too; stdlib and unpackaged modules (this test file) are left out
    pickled = save_model(model, tmp_path / "p", flavor="pickle").libraries
    assert pickled["lightgbm"] == lgb.__version__ and "scikit-learn" in pickled
    assert not {"builtins", "collections", "tests"} & set(pickled)


def _resave_manifest(directory: Path, edit: Any) -> None:
    raw = yaml.safe_load((directory / MANIFEST).read_text())
    edit(raw)
    (directory / MANIFEST).write_text(yaml.safe_dump(raw))


def test_a_manifest_without_files_is_refused(data: Any, tmp_path: Path) -> None:
    X, y = data
    save_model(_sklearn_pipeline().fit(X, y), tmp_path / "m")
    _resave_manifest(tmp_path / "m", lambda raw: raw.update(files={}))
    with open(tmp_path / "m" / "model.skops", "ab") as fh:
        fh.write(b"junk")
    with pytest.raises(IntegrityError, match="lists no files"):
        load_model(tmp_path / "m")


def test_the_payload_must_be_listed(data: Any, tmp_path: Path) -> None:
    X, y = data
    save_model(_sklearn_pipeline().fit(X, y), tmp_path / "m")

    def move(raw: dict[str, Any]) -> None:
        raw["files"]["notes.txt"] = raw["files"].pop("model.skops")

    (tmp_path / "m" / "model.skops").rename(tmp_path / "m" / "notes.txt")
    save_model(_sklearn_pipeline().fit(X, y), tmp_path / "other")
    _resave_manifest(tmp_path / "m", move)
    (tmp_path / "m" / "model.skops").write_bytes((tmp_path / "other" / "model.skops").read_bytes())
    with pytest.raises(IntegrityError, match="does not list 'model.skops'"):
        load_model(tmp_path / "m")


def test_an_unlisted_file_is_refused(data: Any, tmp_path: Path) -> None:
    X, y = data
    save_model(_sklearn_pipeline().fit(X, y), tmp_path / "m")
    (tmp_path / "m" / "sub").mkdir()
    (tmp_path / "m" / "sub" / "extra.py").write_text("print('hi')\n")
    with pytest.raises(IntegrityError, match=r"sub/extra.py is not listed in .*MODEL.yaml"):
        load_model(tmp_path / "m")
