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
