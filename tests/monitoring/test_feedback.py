"""Feedback: accepted, unknown and refused rows; duplicates; files; nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from modelyard.errors import DataValidationError, InvalidArgumentError
from modelyard.monitoring import labelled, record_feedback, record_feedback_file
from modelyard.storage import Workspace
from tests.monitoring.helpers import log_predictions, register_classifier, training_data


@pytest.fixture
def logged(workspace: Workspace, tmp_path: Path) -> list[str]:
    register_classifier(workspace, tmp_path)
    X, _ = training_data(6)
    return log_predictions(
        workspace, X, [0.0, 1.0, 1.0, 0.0, 1.0, 0.0], ids=[f"p{i}" for i in range(6)]
    )


def _feedback(ws: Workspace) -> pd.DataFrame:
    table = ws.logs.read("feedback")
    return pd.DataFrame() if table is None else table.to_pandas()


def test_accepted_unknown_refused_and_duplicates(workspace: Workspace, logged: list[str]) -> None:
    rows = [
        {"prediction_id": "p0", "label": 0},
        {"prediction_id": "p1", "label": 1.0},
        {"prediction_id": "p2", "label": "1"},  # a number as text: accepted for a numeric model
        {"prediction_id": "p3", "label": "fraud"},  # text for a model that predicts numbers
        {"prediction_id": "p4", "label": 7},  # not one of the version's classes (0, 1)
        {"prediction_id": "p5", "label": None},
        {"prediction_id": "nope", "label": 1},
        {"prediction_id": "", "label": 1},
        {"prediction_id": "p1", "label": 0},  # the same id again: the last row wins
    ]
    result = record_feedback(workspace, rows)
    assert (result.received, result.accepted, result.duplicates) == (9, 3, 1)
    assert result.unknown_ids == ["nope"]
    refused = {(r["row"], r["field"], str(r["value"])) for r in result.refused}
    assert refused == {
        (3, "label", "fraud"),
        (4, "label", "7"),
        (5, "label", "None"),
        (7, "prediction_id", ""),
    }
    by_row = {r["row"]: r["message"] for r in result.refused}
    assert "not a number" in by_row[3] and "fraud predicts numbers" in by_row[3]
    assert "not a class of fraud v1 (classes: 0, 1)" in by_row[4]
    stored = _feedback(workspace).set_index("prediction_id")["label"].to_dict()
    assert stored == {"p0": 0.0, "p1": 0.0, "p2": 1.0}
    assert len(result.files) == 1


def test_strict_writes_nothing(workspace: Workspace, logged: list[str]) -> None:
    rows = [{"prediction_id": "p0", "label": 1}, {"prediction_id": "p1", "label": "x"}]
    with pytest.raises(DataValidationError, match="nothing was written") as info:
        record_feedback(workspace, rows, strict=True)
    assert info.value.details["refused"][0]["value"] == "x"
    assert _feedback(workspace).empty
    with pytest.raises(DataValidationError, match="Unknown: zz"):
        record_feedback(workspace, [{"prediction_id": "zz", "label": 1}], strict=True)


def test_bad_shapes_are_clear_errors(workspace: Workspace, logged: list[str]) -> None:
    with pytest.raises(InvalidArgumentError, match="missing label"):
        record_feedback(workspace, pd.DataFrame({"prediction_id": ["p0"]}))
    with pytest.raises(InvalidArgumentError, match=r"unknown field\(s\) lable"):
        record_feedback(workspace, [{"prediction_id": "p0", "lable": 1}])
    with pytest.raises(InvalidArgumentError, match="is a str"):
        record_feedback(workspace, ["p0"])
    result = record_feedback(workspace, [{"prediction_id": "p0", "label": [1]}])
    assert result.refused[0]["message"].endswith("is not a number or a string")
    assert record_feedback(workspace, []).accepted == 0


def test_a_correction_replaces_the_label(workspace: Workspace, logged: list[str]) -> None:
    record_feedback(workspace, [{"prediction_id": "p0", "label": 1}], model="fraud")
    record_feedback(workspace, [{"prediction_id": "p0", "label": 0}], model="fraud")
    predictions = workspace.logs.read("predictions", partition={"model": "fraud"})
    joined = labelled(predictions, workspace.logs.read("feedback")).to_pandas()
    assert joined.set_index("prediction_id").loc["p0", "label"] == 0.0
    assert len(joined) == 1


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_bulk_from_a_file(
    workspace: Workspace, logged: list[str], tmp_path: Path, fmt: str
) -> None:
    frame = pd.DataFrame({"prediction_id": ["p0", "p1", "ghost"], "label": [0, 1, 1]})
    path = tmp_path / f"labels.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        path.write_text("\n".join(json.dumps(r) for r in frame.to_dict("records")))
    else:
        frame.to_parquet(path)
    result = record_feedback_file(workspace, path, model="fraud")
    assert (result.accepted, result.unknown_ids) == (2, ["ghost"])


def test_text_labels_for_a_text_model(workspace: Workspace, tmp_path: Path) -> None:
    X, _ = training_data(3)
    log_predictions(workspace, X, ["cat", "dog", "cat"], model="pets", ids=["a", "b", "c"])
    log_predictions(workspace, X, [1.0, 0.0, 1.0], model="fraud", ids=["n1", "n2", "n3"])
    result = record_feedback(
        workspace,
        [{"prediction_id": "a", "label": "dog"}, {"prediction_id": "n1", "label": 1}],
    )
    assert result.accepted == 2  # no registered version: the type is checked, not the classes
    table = workspace.logs.read("feedback")
    assert table is not None and table.column("label").to_pylist() == ["dog", "1.0"]
    # a later numeric-only batch makes the log mix number and text files: still readable
    record_feedback(workspace, [{"prediction_id": "n2", "label": 0}])
    pets = workspace.logs.read("predictions", partition={"model": "pets"})
    fraud = workspace.logs.read("predictions", partition={"model": "fraud"})
    feedback = workspace.logs.read("feedback")
    assert labelled(pets, feedback).column("label").to_pylist() == ["dog"]
    assert sorted(labelled(fraud, feedback).column("label").to_pylist()) == [0.0, 1.0]


def test_a_missing_file_is_a_clear_error(workspace: Workspace, tmp_path: Path) -> None:
    from modelyard.errors import NotFoundError

    with pytest.raises(NotFoundError, match="none.csv"):
        record_feedback_file(workspace, tmp_path / "none.csv")


def test_a_boolean_label_is_refused_unless_the_classes_are_booleans(
    workspace: Workspace, logged: list[str], tmp_path: Path
) -> None:
    """``true`` is not taken for 1: for classes 1 / 2 it would be a valid class meaning
    something else. A model trained on booleans takes them."""
    from sklearn.linear_model import LogisticRegression

    from modelyard.flavors import save_model
    from modelyard.registry import RegistryClient

    rows = [
        {"prediction_id": "p0", "label": True},
        {"prediction_id": "p1", "label": 1},
        {"prediction_id": "p2", "label": False},
    ]
    result = record_feedback(workspace, rows, model="fraud")
    assert (result.accepted, result.refused_count) == (1, 2)
    assert [(r["row"], r["value"]) for r in result.refused] == [(0, True), (2, False)]
    message = result.refused[0]["message"]
    assert message == (
        "label True is a boolean, not one of the classes of fraud v1 (0, 1); send the class itself"
    )

    X, y = training_data(100)
    save_model(LogisticRegression().fit(X, y.astype(bool)), tmp_path / "flags", sample=X.head(5))
    RegistryClient(workspace).register_model(str(tmp_path / "flags"), "flags")
    log_predictions(workspace, X.head(2), [1.0, 0.0], model="flags", ids=["f0", "f1"])
    flags = [{"prediction_id": "f0", "label": True}, {"prediction_id": "f1", "label": False}]
    assert record_feedback(workspace, flags, model="flags").accepted == 2


def test_a_model_without_predictions_is_named(
    workspace: Workspace, logged: list[str], tmp_path: Path
) -> None:
    from modelyard.errors import NotFoundError

    with pytest.raises(NotFoundError) as info:
        record_feedback(workspace, [{"prediction_id": "p0", "label": 1}], model="frau")
    message = info.value.message
    assert message.startswith("No model named 'frau' has logged predictions")
    assert "(did you mean 'fraud'?)" in message and "Models with predictions: fraud." in message
    assert info.value.details["field"] == "model" and info.value.http_status == 404
    register_classifier(workspace, tmp_path, name="quiet", stage=None)
    with pytest.raises(NotFoundError, match="Model 'quiet' has no logged predictions"):
        record_feedback(workspace, [{"prediction_id": "p0", "label": 1}], model="quiet")
    assert _feedback(workspace).empty


def test_a_label_is_checked_against_the_version_that_answered(
    workspace: Workspace, logged: list[str]
) -> None:
    """A shadow row carries the answered row's id; the label is for the answer (v1, classes
    0 / 1), not for the shadow's version (here one the registry does not know)."""
    X, _ = training_data(1)
    log_predictions(workspace, X, [1.0], ids=["s1"])
    log_predictions(workspace, X, [1.0], ids=["s1"], version=9, variant="shadow")
    result = record_feedback(workspace, [{"prediction_id": "s1", "label": 7}], model="fraud")
    assert (result.accepted, result.refused_count) == (0, 1)
    assert "not a class of fraud v1" in result.refused[0]["message"]
