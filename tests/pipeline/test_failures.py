"""Bad input (issue item 14): each case is a clear error naming the field, and nothing is
half-registered. Runtime failures leave a FAILED run with the error recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from modelyard.entities import RunStatus
from modelyard.errors import (
    DataValidationError,
    InvalidArgumentError,
    ModelyardError,
    NotFoundError,
    SpecError,
)
from modelyard.pipeline import list_runs, run
from modelyard.registry import RegistryClient
from modelyard.storage import Workspace
from modelyard.tracking import TrackingClient
from tests.pipeline.helpers import spec, write_data


def failing(raw: dict[str, Any], ws: Workspace, base: Path, error: type[ModelyardError]) -> Any:
    with pytest.raises(error) as err:
        run(raw, workspace=ws, base_dir=str(base))
    assert RegistryClient(ws).list_models() == [], "nothing may be registered"
    return err.value


def failed_run(ws: Workspace) -> Any:
    (latest,) = list_runs(ws)
    assert latest.status is RunStatus.FAILED
    assert latest.tags["modelyard.error"]
    steps = json.loads(
        TrackingClient(ws).artifacts_of(latest.run_id).read_bytes("pipeline/steps.json")
    )
    assert list(steps.values())[-1]["status"] == "failed"
    return latest


def test_typos_and_wrong_types_stop_before_anything_runs(
    workspace: Workspace, tmp_path: Path
) -> None:
    write_data(tmp_path)
    raw = spec()
    raw["train"]["paramz"] = {"n_estimators": 5}
    raw["split"]["test_fraction"] = "a fifth"
    err = failing(raw, workspace, tmp_path, SpecError)
    assert any(p.startswith("train.paramz") for p in err.details["problems"])
    assert any(p.startswith("split.test_fraction") for p in err.details["problems"])
    assert list_runs(workspace) == []  # not even a run was started


def test_a_data_file_without_the_target_column(workspace: Workspace, tmp_path: Path) -> None:
    path = write_data(tmp_path)
    pd.read_parquet(path).drop(columns=["is_fraud"]).to_parquet(path)
    err = failing(spec(), workspace, tmp_path, DataValidationError)
    assert err.details["field"] == "data.target"
    assert "'is_fraud' is not a column" in err.message and "amount" in err.message
    assert "is_fraud" in failed_run(workspace).tags["modelyard.error"]


def test_a_column_whose_type_contradicts_the_schema(workspace: Workspace, tmp_path: Path) -> None:
    path = write_data(tmp_path)
    frame = pd.read_parquet(path)
    frame["amount"] = frame["amount"].astype(str)
    frame.loc[7, "amount"] = "n/a"
    frame.to_parquet(path)
    err = failing(spec(), workspace, tmp_path, DataValidationError)
    assert err.details["field"] == "validation.schema.amount.type"
    assert "'amount' should be float" in err.message
    stored = failed_run(workspace)
    # the validation report is saved with the failed run
    report = (
        TrackingClient(workspace).artifacts_of(stored.run_id).read_bytes("validation/report.txt")
    )
    assert b"FAIL  schema.type" in report


def test_an_unreadable_file(workspace: Workspace, tmp_path: Path) -> None:
    path = write_data(tmp_path)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # truncated
    err = failing(spec(), workspace, tmp_path, DataValidationError)
    assert err.details["field"] == "data.source" and "Cannot read" in err.message
    failed_run(workspace)


def test_a_missing_file(workspace: Workspace, tmp_path: Path) -> None:
    err = failing(spec(), workspace, tmp_path, NotFoundError)
    assert err.details["field"] == "data.source"


def test_an_empty_dataset(workspace: Workspace, tmp_path: Path) -> None:
    path = write_data(tmp_path)
    pd.read_parquet(path).head(0).to_parquet(path)
    err = failing(spec(), workspace, tmp_path, DataValidationError)
    assert "is empty" in err.message and err.details["field"] == "data.source"


def test_a_target_with_one_class(workspace: Workspace, tmp_path: Path) -> None:
    path = write_data(tmp_path)
    frame = pd.read_parquet(path)
    frame["is_fraud"] = 0
    frame.to_parquet(path)
    err = failing(spec(), workspace, tmp_path, DataValidationError)
    assert err.details["field"] == "data.target" and "single class" in err.message
    assert "(0)" in err.message  # the value as written in the data, not np.int64(0)
    failed_run(workspace)


def test_a_parameter_value_of_the_wrong_type_stops_before_anything_runs(
    workspace: Workspace, tmp_path: Path
) -> None:
    write_data(tmp_path)
    raw = spec()
    raw["train"]["params"] = {"n_estimators": "many", "learning_rate": "fast"}
    err = failing(raw, workspace, tmp_path, SpecError)
    assert err.details["problems"] == [
        "train.params.n_estimators: LGBMClassifier expects a number for 'n_estimators' "
        "(default 100), got 'many'",
        "train.params.learning_rate: LGBMClassifier expects a number for 'learning_rate' "
        "(default 0.1), got 'fast'",
    ]
    assert list_runs(workspace) == []  # ingest, split and transform never ran


def test_a_parameter_the_library_refuses_at_fit_time(workspace: Workspace, tmp_path: Path) -> None:
    write_data(tmp_path)
    raw = spec()
    # the right type (an int, as the default 31), so only LightGBM's fit can refuse it (< 2)
    raw["train"] = {"model": "lightgbm", "params": {"n_estimators": 5, "num_leaves": 1}}
    err = failing(raw, workspace, tmp_path, InvalidArgumentError)
    assert err.details["field"] == "train.params" and "num_leaves" in err.message
    failed_run(workspace)


def test_outliers_with_action_fail(workspace: Workspace, tmp_path: Path) -> None:
    write_data(tmp_path)
    raw = spec()
    raw["validation"]["outliers"] = {"method": "zscore", "action": "fail", "columns": ["amount"]}
    err = failing(raw, workspace, tmp_path, DataValidationError)
    assert "outliers by zscore" in err.message


def test_a_temporal_split_with_all_positives_after_the_cut(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = write_data(tmp_path)
    frame = pd.read_parquet(path)
    cut = frame["event_ts"].quantile(0.8)
    frame["is_fraud"] = (frame["event_ts"] > cut).astype(int)
    frame.to_parquet(path)
    err = failing(spec(), workspace, tmp_path, DataValidationError)
    assert err.details["field"] == "split" and "single class" in err.message


def test_a_search_space_where_every_trial_fails(workspace: Workspace, tmp_path: Path) -> None:
    from modelyard.errors import InvalidArgumentError

    write_data(tmp_path)
    raw = spec()
    raw["train"]["tune"] = {"n_trials": 2, "parallelism": 1, "space": {"num_leaves": [-9, -2]}}
    err = failing(raw, workspace, tmp_path, InvalidArgumentError)
    assert err.details["field"] == "train.tune"
    assert "2 failed" in err.message and "first error" in err.message
    trials = TrackingClient(workspace).search_runs(
        None, "tags.`modelyard.pipeline.trial` = 'fraud'"
    )
    assert [t.status for t in trials] == [RunStatus.FAILED, RunStatus.FAILED]
    assert all(t.tags["modelyard.error"] for t in trials)


def test_a_timestamp_column_that_holds_no_times(workspace: Workspace, tmp_path: Path) -> None:
    write_data(tmp_path)
    raw = spec(validation=None)
    raw["data"]["timestamp"] = "channel"  # text: pos / online / atm
    err = failing(raw, workspace, tmp_path, DataValidationError)
    assert err.details["field"] == "data.timestamp" and err.details["value"] == "channel"
    assert err.details["example"] in ("pos", "online", "atm")
    assert "data.timestamp 'channel' is not a time column: it holds text such as " in err.message
    steps = failed_run(workspace).tags["modelyard.pipeline.steps"]
    assert steps == "ingest:failed"  # found at ingest, before the split parsed it


def test_class_weight_on_an_inferred_regression_target(
    workspace: Workspace, tmp_path: Path
) -> None:
    write_data(tmp_path)
    raw = spec(validation=None, register=None, evaluate={}, split={"method": "random"})
    raw["data"]["target"] = "amount"  # no train.task written: regression is inferred from y
    raw["data"]["drop"].append("is_fraud")
    assert raw["train"]["class_weight"] == "balanced"
    err = failing(raw, workspace, tmp_path, InvalidArgumentError)
    assert err.details["field"] == "train.class_weight"
    assert "applies to classification only" in err.message and "'amount'" in err.message
    steps = failed_run(workspace).tags["modelyard.pipeline.steps"]
    assert "train" not in steps and steps.endswith("split:failed")


def test_class_weight_with_a_regressor_by_name_is_a_spec_problem() -> None:
    from modelyard.pipeline import load_spec

    raw = spec(
        train={"model": "RandomForestRegressor", "class_weight": "balanced"},
        evaluate={},
        register=None,
        split={"method": "random"},
    )
    with pytest.raises(SpecError) as err:
        load_spec(raw)
    assert "train.class_weight: applies to classification only" in err.value.details["problems"]


def test_xgboost_with_text_class_labels_is_refused_before_training(
    workspace: Workspace, tmp_path: Path
) -> None:
    pytest.importorskip("xgboost")
    write_data(tmp_path)
    raw = spec(
        validation=None,
        register=None,
        evaluate={},
        split={"method": "random"},
        train={"model": "xgboost", "params": {"n_estimators": 5}},
    )
    raw["data"]["target"] = "channel"  # text: pos / online / atm
    raw["data"]["drop"].append("is_fraud")
    err = failing(raw, workspace, tmp_path, DataValidationError)
    assert err.details["field"] == "train.model" and err.details["value"] == "xgboost"
    assert "coded as the integers 0 .. 2" in err.message and "'online'" in err.message
    steps = failed_run(workspace).tags["modelyard.pipeline.steps"]
    assert "train" not in steps and steps.endswith("split:failed")
