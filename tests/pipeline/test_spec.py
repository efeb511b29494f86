"""The spec: every problem is reported at once, with its path (and line), before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelyard.errors import NotFoundError, SpecError
from modelyard.pipeline import PipelineSpec, load_spec
from modelyard.pipeline.spec import ChoiceDim, RangeDim
from tests.pipeline.helpers import spec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fraud" / "pipeline.yaml"


def problems(raw: dict | str | Path) -> list[str]:
    with pytest.raises(SpecError) as err:
        load_spec(raw)  # type: ignore[arg-type]
    return list(err.value.details["problems"])


def test_the_example_spec_is_valid() -> None:
    loaded = load_spec(EXAMPLE)
    assert loaded.spec.name == "fraud"
    assert loaded.base_dir == EXAMPLE.parent
    assert loaded.resolve("data/transactions.parquet") == str(
        EXAMPLE.parent / "data/transactions.parquet"
    )
    assert loaded.spec.registration is not None and loaded.spec.registration.promote_to == "staging"
    dims = loaded.spec.train.tune.space  # type: ignore[union-attr]
    assert dims["learning_rate"] == RangeDim(low=0.01, high=0.3, log=True, type="float")
    assert dims["num_leaves"].is_int  # type: ignore[union-attr]


def test_typos_and_wrong_types_are_all_reported_with_paths_and_lines(tmp_path: Path) -> None:
    raw = spec()
    raw["train"]["modle"] = "lightgbm"
    raw["split"]["test_fraction"] = 1.5
    raw["evaluate"]["metrics"] = ["roc_auc", "rocauc"]
    raw["train"]["params"]["num_leavs"] = 31
    raw["train"]["tune"] = {"n_trials": "many", "space": {"num_leaves": [15, 255], "lr": [0.1]}}
    raw["data"]["targt"] = "x"
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    found = problems(path)
    text = "\n".join(found)
    assert "train.modle (line" in text and "did you mean 'model'" in text
    assert "split.test_fraction (line" in text and "less than 1" in text
    assert "train.tune.n_trials" in text
    assert "train.tune.space.lr" in text and "[low, high]" in text
    assert "data.targt" in text and "did you mean 'target'" in text
    # problems the schema alone cannot see, found in the same pass (even in a section that
    # also has a typo)
    assert "evaluate.metrics[1]" in text and "did you mean 'roc_auc'" in text
    assert "train.params.num_leavs (line" in text and "'num_leaves'" in text
    lines = yaml.safe_dump(raw, sort_keys=False).splitlines()
    modle_line = next(i for i, line in enumerate(lines, 1) if "modle" in line)
    assert f"train.modle (line {modle_line})" in text


def test_estimator_parameters_are_checked() -> None:
    raw = spec()
    raw["train"]["params"]["num_leavs"] = 31
    raw["train"]["tune"] = {"n_trials": 3, "space": {"learning_rte": [0.01, 0.3, "log"]}}
    text = "\n".join(problems(raw))
    assert "train.params.num_leavs: LGBMClassifier has no parameter 'num_leavs'" in text
    assert "did you mean 'num_leaves'" in text
    assert "train.tune.space.learning_rte" in text


def test_parameter_values_are_checked_against_the_estimator() -> None:
    raw = spec()
    raw["train"]["params"] = {"n_estimators": "many", "learning_rate": "fast", "num_leaves": 7}
    raw["train"]["tune"] = {"space": {"boosting_type": {"choices": ["gbdt", True]}}}
    assert problems(raw) == [
        "train.params.n_estimators: LGBMClassifier expects a number for 'n_estimators' "
        "(default 100), got 'many'",
        "train.params.learning_rate: LGBMClassifier expects a number for 'learning_rate' "
        "(default 0.1), got 'fast'",
        "train.tune.space.boosting_type: LGBMClassifier expects a text value for "
        "'boosting_type' (default 'gbdt'), got True",
    ]
    # scikit-learn estimators: their own parameter constraints, for params and search bounds
    raw = spec(train={"model": "random_forest", "params": {"n_estimators": "many"}})
    raw["train"]["tune"] = {
        "space": {"min_samples_leaf": [0, 5], "criterion": {"choices": ["gini", "gin"]}}
    }
    text = "\n".join(problems(raw))
    assert (
        "train.params.n_estimators: The 'n_estimators' parameter of RandomForestClassifier "
        "must be an int in the range [1, inf). Got 'many' instead." in text
    )
    assert "train.tune.space.min_samples_leaf: The 'min_samples_leaf' parameter" in text
    assert "Got 0 instead" in text
    assert "train.tune.space.criterion: The 'criterion' parameter" in text and "'gin'" in text
    # values the estimator takes pass (LightGBM refuses num_leaves: 1 only when it fits)
    ok = spec()
    ok["train"]["params"] = {"num_leaves": 1, "boosting_type": "dart", "verbose": 0}
    ok["train"]["tune"] = {"space": {"learning_rate": [0.01, 0.3, "log"], "max_depth": [2, 8]}}
    load_spec(ok)


def test_xgboost_parameter_values_are_checked_against_its_annotations() -> None:
    pytest.importorskip("xgboost")
    raw = spec(train={"model": "xgboost", "params": {"max_depth": "deep", "n_estimators": 5}})
    assert problems(raw) == [
        "train.params.max_depth: XGBClassifier expects a number for 'max_depth' (declared int "
        "or None), got 'deep'"
    ]


def test_unknown_models_metrics_and_import_paths() -> None:
    raw = spec(
        train={"model": "random_forrest"},
        evaluate={
            "metrics": ["roc_auc", {"name": "cost", "function": "tests.pipeline.custom:nope"}]
        },
        transform={"features": [{"function": "tests.pipeline.custom:NOT_CALLABLE"}]},
    )
    raw["register"]["gate"]["metric"] = "auc"
    text = "\n".join(problems(raw))
    assert "train.model" in text and "random_forest" in text
    assert "evaluate.metrics[1].function" in text and "has no 'nope'" in text
    assert "transform.features[0].function" in text and "not callable" in text
    assert "register.gate.metric" in text


def test_sections_that_must_agree() -> None:
    raw = spec(
        split={"method": "temporal"}, evaluate={"cross_validation": {"method": "timeseries"}}
    )
    del raw["data"]["timestamp"]
    text = "\n".join(problems(raw))
    assert "split.method: temporal needs data.timestamp" in text
    assert "evaluate.cross_validation.method: timeseries needs data.timestamp" in text
    reg = spec(train={"model": "random_forest", "task": "regression", "class_weight": "balanced"})
    reg["split"]["method"] = "stratified"
    text = "\n".join(problems(reg))
    assert "train.class_weight: applies to classification only" in text
    assert "split.method: stratified needs a classification target" in text
    assert "is a classification metric, but train.task is regression" in text


def test_data_section_problems() -> None:
    text = "\n".join(problems(spec(data={"target": "is_fraud", "drop": ["is_fraud"]})))
    assert "data.source: required key is missing" in text
    assert "cannot also be in drop" in text


def test_search_space_forms() -> None:
    raw = spec()
    raw["train"]["tune"] = {
        "n_trials": 2,
        "space": {
            "learning_rate": [0.01, 0.3, "log"],
            "num_leaves": [15, 255],
            "subsample": {"low": 0.5, "high": 1.0, "step": 0.1},
            "boosting_type": {"choices": ["gbdt", "dart"]},
        },
    }
    space = load_spec(raw).spec.train.tune.space  # type: ignore[union-attr]
    assert isinstance(space["boosting_type"], ChoiceDim)
    assert space["num_leaves"].is_int and not space["learning_rate"].is_int  # type: ignore[union-attr]
    bad = spec()
    bad["train"]["tune"] = {"space": {"learning_rate": [0.3, 0.01], "num_leaves": [0, 10, "log"]}}
    text = "\n".join(problems(bad))
    assert "low (0.3) must be less than high" in text and "log range needs low > 0" in text


def test_yaml_errors_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ndata: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML at line"):
        load_spec(path)
    path.write_text("- just\n- a list\n")
    with pytest.raises(SpecError, match="must hold a mapping"):
        load_spec(path)
    with pytest.raises(NotFoundError):
        load_spec(tmp_path / "missing.yaml")


def test_the_spec_round_trips_through_json() -> None:
    loaded = load_spec(EXAMPLE).spec
    again = PipelineSpec.model_validate(loaded.model_dump(mode="json", by_alias=True))
    assert again == loaded


def test_search_space_mistakes_are_one_problem_each_without_pydantic_internals() -> None:
    raw = spec()
    raw["train"]["tune"] = {
        "space": {
            "learning_rate": [0.3, 0.01],
            "num_leaves": {"choices": []},
            "subsample": {"low": 0.5},
            "max_depth": [1, "x"],
            "min_child_samples": 5,
        }
    }
    assert problems(raw) == [
        "train.tune.space.learning_rate: low (0.3) must be less than high (0.01)",
        "train.tune.space.num_leaves.choices: needs at least 1 item(s) (got [])",
        "train.tune.space.subsample.high: required key is missing",
        "train.tune.space.max_depth: a search range is [low, high], [low, high, log] or "
        "[low, high, int] (or {low, high, log, step, type}); for a list of values write "
        "{choices: [...]} (got [1, 'x'])",
        "train.tune.space.min_child_samples: a search range is [low, high], [low, high, log] or "
        "[low, high, int] (or {low, high, log, step, type}); for a list of values write "
        "{choices: [...]} (got 5)",
    ]


def test_a_data_section_that_is_not_a_mapping_is_one_plain_problem() -> None:
    assert problems(spec(data=5)) == [
        "data: needs either 'source' (a file) or 'features' + 'entities' (the feature store), "
        "as a mapping (got 5)"
    ]  # and no "temporal needs data.timestamp" from the data section's stand-in


def test_a_key_written_twice_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text(
        "name: s\ndata: {source: data/tx.parquet, target: is_fraud}\nname: t\n"
        "train:\n  params: {num_leaves: 7}\n  params: {num_leaves: 9}\n"
    )
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert "at line 3, column 1: duplicate key 'name' (first written at line 1)" in str(err.value)
    path.write_text("name: s\ndata: {source: x.parquet, target: y, target: z}\n")
    with pytest.raises(SpecError, match="line 2, column 38: duplicate key 'target'"):
        load_spec(path)
    # a merge key may still override what it brings in
    path.write_text(
        "name: s\nbase: &b {source: x.parquet, target: y}\ndata:\n  <<: *b\n  target: z\n"
    )
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert "duplicate" not in str(err.value) and "base (line 2): unknown key" in str(err.value)


def test_feature_definition_files_refuse_duplicate_keys_too(tmp_path: Path) -> None:
    from modelyard.features.loader import load_definitions

    path = tmp_path / "features.yaml"
    path.write_text("entities:\n  - {name: customer, join_keys: [customer_id]}\nentities: []\n")
    with pytest.raises(SpecError, match="duplicate key 'entities' \\(first written at line 1\\)"):
        load_definitions(path)
