"""Definitions: Python and YAML, every problem reported with its path, versions and audit."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from modelyard.errors import InvalidArgumentError, NotFoundError, SpecError
from modelyard.features import (
    Entity,
    FeatureStore,
    FeatureView,
    format_duration,
    load_definitions,
    parse_definitions,
    parse_duration,
)

YAML = """
entities:
  - name: customer
    join_keys: [customer_id]
feature_views:
  - name: spend
    entities: [customer]
    source: data/tx.parquet
    timestamp_field: ts
    ttl: 7d
    features: {amount: float, n: int}
  - name: spend_windows
    entities: [customer]
    source: "SELECT customer_id, ts, amount FROM read_parquet('data/tx.parquet')"
    timestamp_field: ts
    aggregations:
      - {function: sum, column: amount, window: 1h}
      - {function: count, window: 24h, name: tx_24h}
feature_services:
  - name: fraud
    features: [spend, "spend_windows:tx_24h"]
"""


def _data(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir(exist_ok=True)
    pd.DataFrame(
        {"customer_id": ["a"], "ts": [pd.Timestamp("2026-01-01")], "amount": [1.0], "n": [1]}
    ).to_parquet(tmp_path / "data" / "tx.parquet")


def test_durations() -> None:
    assert parse_duration("10m") == 600_000
    assert parse_duration(90) == 90_000
    assert format_duration(parse_duration("24h")) == "1d"
    with pytest.raises(InvalidArgumentError, match=r"e\.g\. '10m'"):
        parse_duration("10 minutes")


def test_yaml_definitions_apply_and_version(fs: FeatureStore, tmp_path: Path) -> None:
    _data(tmp_path)
    (tmp_path / "features.yaml").write_text(YAML)
    definitions = load_definitions(tmp_path / "features.yaml")
    view = next(d for d in definitions if d.name == "spend")
    assert isinstance(view, FeatureView)
    assert view.source is not None and view.source.path == str(tmp_path / "data" / "tx.parquet")
    assert [f.dtype for f in view.features] == ["float64", "int64"]
    applied = fs.apply(tmp_path / "features.yaml")
    assert {(a.name, a.version, a.status) for a in applied} == {
        ("customer", 1, "created"),
        ("spend", 1, "created"),
        ("spend_windows", 1, "created"),
        ("fraud", 1, "created"),
    }
    assert {a.status for a in fs.apply(tmp_path / "features.yaml")} == {"unchanged"}
    # a changed definition becomes a new version; the old one stays readable
    (tmp_path / "features.yaml").write_text(YAML.replace("ttl: 7d", "ttl: 3d"))
    changed = {a.name: (a.version, a.status) for a in fs.apply(tmp_path / "features.yaml")}
    assert changed["spend"] == (2, "updated") and changed["customer"] == (1, "unchanged")
    assert fs.get_feature_view("spend").ttl == "3d"
    assert fs.get_feature_view("spend", version=1).ttl == "7d"
    assert [v.version for v in fs.list_versions("feature_view", "spend")] == [1, 2]
    events = fs.workspace.metadata.audit.list_events(object_type="feature_view")
    assert [e.action for e in events][:1] == ["feature_view.update"]
    assert {e.object_id for e in events} == {"spend/1", "spend/2", "spend_windows/1"}
    with pytest.raises(NotFoundError, match="no version 7; versions: 1, 2"):
        fs.get_feature_view("spend", version=7)


def test_python_definitions(fs: FeatureStore, tmp_path: Path) -> None:
    _data(tmp_path)
    (tmp_path / "defs.py").write_text(
        "from modelyard.features import Entity, FeatureView, FeatureService\n"
        "customer = Entity(name='customer', join_keys=['customer_id'])\n"
        "views = [FeatureView(name='spend', entities=[customer], source='data/tx.parquet',\n"
        "                     timestamp_field='ts', features={'amount': 'float64'})]\n"
        "service = FeatureService(name='svc', features=views)\n"
    )
    applied = fs.apply(tmp_path / "defs.py")
    assert [(a.kind, a.name) for a in applied] == [
        ("entity", "customer"),
        ("feature_view", "spend"),
        ("feature_service", "svc"),
    ]
    assert fs.get_feature_service("svc").features == ["spend"]


def test_every_problem_is_reported_with_its_path() -> None:
    bad = {
        "entities": [{"name": "customer", "join_key": ["id"]}],
        "feature_views": [
            {"name": "v", "entities": ["customer"], "features": {"x": "decimal"}, "ttl": "soon"},
            {"name": "w", "entities": [], "aggregations": [{"function": "median", "window": "1h"}]},
        ],
        "feature_service": [],
    }
    with pytest.raises(SpecError) as info:
        parse_definitions(bad)
    problems = info.value.details["problems"]
    text = "\n".join(problems)
    assert "feature_service: unknown section (did you mean 'feature_services'" in text
    assert "entities[0].join_key: Extra inputs are not permitted" in text
    assert "feature_views[0].features.0.dtype: unknown dtype 'decimal'" in text
    assert "feature_views[0].ttl: Invalid duration 'soon'" in text
    assert "feature_views[1].entities" in text
    assert "feature_views[1].aggregations.0.function" in text


def test_apply_reports_every_problem_of_every_file_at_once(
    fs: FeatureStore, tmp_path: Path
) -> None:
    """Field problems (in every file), references and sources in one error; a reference to a
    definition that is itself invalid is not reported again as unknown."""
    _data(tmp_path)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.yaml").write_text(
        YAML.replace("ttl: 7d", "ttl: soon")  # spend is invalid; the service refers to it
        .replace(
            'entities: [customer]\n    source: "SELECT', 'entities: [custmer]\n    source: "SELECT'
        )
        .replace("data/tx.parquet", str(tmp_path / "data" / "tx.parquet"))
    )
    (repo / "b.yaml").write_text(
        "feature_views:\n"
        "  - {name: late, entities: [customer], source: ../data/tx.parquet, timestamp_field: ts,\n"
        "     features: {amout: float64}}\n"
        "  - {name: odd, entities: [customer], features: {x: decimal}}\n"
    )
    with pytest.raises(SpecError) as info:
        fs.apply(repo)
    problems = info.value.details["problems"]
    assert len(problems) == 4, problems
    text = info.value.message
    assert f"{repo / 'a.yaml'}: feature_views[0].ttl: Invalid duration 'soon'" in text
    assert f"{repo / 'b.yaml'}: feature_views[1].features.0.dtype: unknown dtype 'decimal'" in text
    assert "feature_view[spend_windows].entities: unknown entity 'custmer'" in text
    assert "feature_view[late].source: no column 'amout' (did you mean 'amount'?)" in text
    assert "fraud" not in text  # its reference to the invalid 'spend' is no news
    assert fs.list_definitions() == []


def test_cross_references_are_checked(fs: FeatureStore, tmp_path: Path) -> None:
    _data(tmp_path)
    source = str(tmp_path / "data" / "tx.parquet")
    view = FeatureView(
        name="v", entities=["custmer"], source=source, timestamp_field="ts",
        features={"amount": "float64", "missing_col": "int64"},
    )  # fmt: skip
    with pytest.raises(SpecError) as info:
        fs.apply([Entity(name="customer"), view])
    text = info.value.message
    assert "unknown entity 'custmer' (did you mean 'customer'?)" in text
    assert "no column 'missing_col'" in text
    assert fs.list_definitions() == []
    from modelyard.features import FeatureService

    with pytest.raises(SpecError, match="has no feature 'amout'"):
        fs.apply(
            [
                Entity(name="customer"),
                FeatureView(
                    name="v",
                    entities=["customer"],
                    source=source,
                    timestamp_field="ts",
                    features={"amount": "float64"},
                ),
                FeatureService(name="s", features=["v:amout"]),
            ]
        )


def test_entity_defaults_and_view_rules() -> None:
    assert Entity(name="customer_id").join_keys == ["customer_id"]
    with pytest.raises(ValueError, match="either features"):
        FeatureView(
            name="v", entities=["e"], source="x.parquet", features={"a": "int"},
            aggregations=[{"function": "count", "window": "1h"}],
        )  # fmt: skip
    with pytest.raises(ValueError, match="sum needs a column"):
        FeatureView(
            name="v", entities=["e"], stream="s", aggregations=[{"function": "sum", "window": "1h"}]
        )
