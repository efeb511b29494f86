"""Monitor specs: every problem reported with its path and line, defaults, versioning."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.errors import NotFoundError, SpecError
from modelyard.monitoring import (
    apply_monitors,
    default_rules,
    get_monitor,
    list_monitors,
    load_monitor_specs,
    redacted,
)
from modelyard.monitoring.spec import MonitorSpec
from modelyard.storage import Workspace
from tests.monitoring.helpers import register_classifier

GOOD = """\
name: fraud-prod
model: models:/fraud@production
window: {span: 1h}
schedule: {every: 10m}
checks:
  drift: {numeric: psi, categorical: chi2}
  service: false
alerts:
  - accuracy < 0.9
  - {metric: recall, op: "<", threshold: 0.5, severity: critical}
sinks:
  - {type: webhook, url: "http://127.0.0.1:9/hook", secret: s3cr3t}
  - {type: command, command: "tee -a alerts.jsonl"}
"""


def test_a_good_spec_and_its_defaults() -> None:
    [spec] = load_monitor_specs({"name": "m", "model": "fraud"})
    assert spec.model.uri == "models:/fraud@production"
    assert spec.window.last == 5000 and spec.schedule.every_ms == 300_000
    assert [r.rule_name for r in spec.rules] == [
        "accuracy < 0.85",
        "precision < 0.8",
        "recall < 0.8",
        "latency_p95_ms > 100",
        "error_rate > 0.05",
        "min_p_value < 0.05",
    ]
    pinned = MonitorSpec.model_validate({"name": "m", "model": "models:/fraud/3"})
    assert pinned.model.uri == "models:/fraud/3"


def test_rules_replace_defaults_of_the_same_metric(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(GOOD)
    [spec] = load_monitor_specs(path)
    rules = {r.rule_name: r for r in spec.rules}
    assert set(rules) == {
        "precision < 0.8",
        "max_psi > 0.2",
        "min_p_value < 0.05",
        "accuracy < 0.9",
        "recall < 0.5",
    }
    assert rules["recall < 0.5"].severity == "critical"
    assert spec.sinks[1].command == ["tee", "-a", "alerts.jsonl"]  # type: ignore[union-attr]
    assert default_rules(spec)[0].rule_name == "accuracy < 0.85"
    assert redacted(spec.model_dump(mode="json"))["sinks"][0]["secret"] == "***"


def test_every_problem_with_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        """\
name: bad name
model: models:/fraud@@x
window: {last: 10, span: 1h}
schedule: {every: soon}
checks: {performance: {metrics: [accuracy, auc]}}
alerts: ["acuracy < 0.8", "latency_p95_ms >> 3"]
sinks: [{type: pager}]
retrain: {on: [drift], pipeline: missing.yaml, metric: speed}
"""
    )
    with pytest.raises(SpecError) as info:
        load_monitor_specs(path)
    text = str(info.value)
    for expected in (
        "name (line 1)",
        "model (line 2)",
        "window (line 3): give exactly one of last",
        "schedule.every (line 4): Invalid duration 'soon'",
        "checks.performance.metrics[1] (line 5)",
        "alerts[0].metric (line 6): unknown metric 'acuracy'; did you mean 'accuracy'?",
        "write a rule as 'METRIC OP THRESHOLD'",
        "sinks[0] (line 7)",
        "retrain.metric (line 8): cannot compare models on 'speed'",
    ):
        assert expected in text, (expected, text)


def test_cross_checks_and_the_pipeline(tmp_path: Path) -> None:
    with pytest.raises(
        SpecError, match=r"watches 'error_rate', a service metric, but checks.service is off"
    ):
        load_monitor_specs(
            {
                "name": "m",
                "model": "f",
                "checks": {"service": False},
                "alerts": ["error_rate > 0.1"],
            }
        )
    with pytest.raises(SpecError, match="retrain.pipeline: Pipeline spec .*missing.yaml"):
        load_monitor_specs(
            {"name": "m", "model": "f", "retrain": {"on": ["drift"], "pipeline": "missing.yaml"}},
            base_dir=tmp_path,
        )
    with pytest.raises(SpecError, match="on: \\[schedule\\] needs every"):
        load_monitor_specs(
            {"name": "m", "model": "f", "retrain": {"on": ["schedule"], "pipeline": "p.yaml"}}
        )
    with pytest.raises(SpecError, match="defined more than once"):
        load_monitor_specs({"monitors": [{"name": "m", "model": "f"}, {"name": "m", "model": "g"}]})
    with pytest.raises(SpecError, match=r"monitors\[1\].model: required key is missing"):
        load_monitor_specs({"monitors": [{"name": "m", "model": "f"}, {"name": "n"}]})


def test_apply_versions_and_needs_a_registered_model(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="fraud"):
        apply_monitors(workspace, {"name": "m", "model": "fraud"})
    register_classifier(workspace, tmp_path)
    [applied] = apply_monitors(workspace, {"name": "m", "model": "fraud"})
    assert (applied.version, applied.status) == (1, "created")
    assert apply_monitors(workspace, {"name": "m", "model": "fraud"})[0].status == "unchanged"
    [applied] = apply_monitors(workspace, {"name": "m", "model": "fraud", "window": {"last": 9}})
    assert (applied.version, applied.status) == (2, "updated")
    assert get_monitor(workspace, "m").spec.window.last == 9
    assert get_monitor(workspace, "m", 1).spec.window.last == 5000
    assert [m.name for m in list_monitors(workspace)] == ["m"]


def test_the_example_monitor_is_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    [spec] = load_monitor_specs(root / "examples" / "fraud" / "monitor.yaml")
    assert spec.retrain is not None
    assert spec.retrain.pipeline == str(root / "examples" / "fraud" / "pipeline.yaml")
    assert {r.rule_name for r in spec.rules} >= {
        "roc_auc < 0.85",
        "max_psi > 0.2",
        "precision < 0.2",
    }
