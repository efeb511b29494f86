"""Point-in-time retrieval checked against a brute-force reference on random data: ties (equal
times, duplicate rows resolved by created stamps), missing entities, expired values, nulls,
composite keys and several views at once."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelyard.errors import DataValidationError, InvalidArgumentError, NotFoundError, SpecError
from modelyard.features import Entity, FeatureService, FeatureStore, FeatureView
from tests.features.feature_helpers import (
    T0,
    assert_rows_equal,
    brute_force_pit,
    brute_force_window,
    random_feature_rows,
    seconds,
)

SPAN = 3600


def _setup(fs: FeatureStore, tmp_path: Path, seed: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    a = random_feature_rows(rng, 400, 25, SPAN)
    b = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 25, 300),
            "event_ts": seconds(rng.integers(0, SPAN, 300) // 60 * 60),  # many equal times
            "created": seconds(rng.permutation(300)),  # distinct: the newest wins a tie
            "g": [f"s{i}" for i in range(300)],
        }
    )
    c = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 25, 300),
            "merchant_id": rng.integers(0, 4, 300),
            "ts": seconds(rng.integers(0, SPAN, 300)),
            "h": rng.normal(size=300),
        }
    ).drop_duplicates(["customer_id", "merchant_id", "ts"], ignore_index=True)
    for name, frame in (("a", a), ("b", b)):
        frame.to_parquet(tmp_path / f"{name}.parquet")
    c.to_csv(tmp_path / "c.csv", index=False)  # CSV sources work too
    customer = Entity(name="customer", join_keys=["customer_id"])
    pair = Entity(name="pair", join_keys=["customer_id", "merchant_id"])
    fs.apply(
        [
            customer,
            pair,
            FeatureView(
                name="a",
                entities=[customer],
                source=str(tmp_path / "a.parquet"),
                timestamp_field="event_ts",
                features={"f_float": "float64", "f_int": "int64"},
                ttl="10m",
            ),
            FeatureView(
                name="b",
                entities=["customer"],
                source=str(tmp_path / "b.parquet"),
                timestamp_field="event_ts",
                created_timestamp_field="created",
                features={"g": "string"},
            ),
            FeatureView(
                name="c",
                entities=["pair"],
                source={"path": str(tmp_path / "c.csv")},
                timestamp_field="ts",
                features={"h": "float"},
                ttl=1800,
            ),
            FeatureService(name="all", features=["a", "b:g", "c:h"]),
        ]
    )
    return {"a": a, "b": b, "c": c}


def _entity_rows(rng: np.random.Generator, data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    n = 300
    ts = seconds(rng.integers(-60, SPAN + 900, n))
    exact = rng.random(n) < 0.4  # many rows exactly at a feature row's time: "at or before"
    ts[exact] = data["a"]["event_ts"].sample(int(exact.sum()), replace=True, random_state=1).values
    return pd.DataFrame(
        {
            "customer_id": rng.integers(0, 30, n),  # 25..29 have no features at all
            "merchant_id": rng.integers(0, 4, n),
            "event_timestamp": ts,
            "label": rng.integers(0, 2, n),
        }
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_point_in_time_matches_brute_force(fs: FeatureStore, tmp_path: Path, seed: int) -> None:
    data = _setup(fs, tmp_path, seed)
    entities = _entity_rows(np.random.default_rng(seed + 100), data)
    got = fs.get_historical_features(entities, "all")

    # every entity row kept, in order, with its own columns untouched
    assert list(got.columns) == [*entities.columns, "f_float", "f_int", "g", "h"]
    pd.testing.assert_frame_equal(got[list(entities.columns)], entities, check_dtype=False)

    ref_a = brute_force_pit(
        entities, "event_timestamp", data["a"], ["customer_id"], "event_ts",
        ["f_float", "f_int"], ttl=pd.Timedelta("10m"),
    )  # fmt: skip
    ref_b = brute_force_pit(
        entities, "event_timestamp", data["b"], ["customer_id"], "event_ts", ["g"],
        created="created",
    )  # fmt: skip
    c = data["c"]
    ref_c = brute_force_pit(
        entities, "event_timestamp", c, ["customer_id", "merchant_id"], "ts", ["h"],
        ttl=pd.Timedelta("30m"),
    )  # fmt: skip
    expected = [{**x, **y, **z} for x, y, z in zip(ref_a, ref_b, ref_c)]
    assert_rows_equal(got, expected)
    # the cases the data is built to hit really occur
    assert sum(r["f_int"] is None for r in ref_a) > 10  # missing entities, expired, too early
    assert sum(r["f_int"] is not None for r in ref_a) > 50
    assert any(r["f_float"] is None and r["f_int"] is not None for r in ref_a)  # stored nulls


def test_never_a_value_from_the_future(fs: FeatureStore, tmp_path: Path) -> None:
    data = _setup(fs, tmp_path, 7)
    entities = _entity_rows(np.random.default_rng(8), data)
    got = fs.get_historical_features(entities, ["b:g"])
    b = data["b"].set_index("g")
    for ts, g in zip(entities["event_timestamp"], got["g"]):
        if isinstance(g, str):
            assert b.loc[g, "event_ts"] <= ts


def test_full_feature_names_and_name_clashes(fs: FeatureStore, tmp_path: Path) -> None:
    _setup(fs, tmp_path, 3)
    entities = pd.DataFrame({"customer_id": [1], "event_timestamp": [T0], "f_int": [0]})
    with pytest.raises(InvalidArgumentError, match="already have a column named 'f_int'"):
        fs.get_historical_features(entities, ["a:f_int"])
    got = fs.get_historical_features(entities, ["a:f_int"], full_feature_names=True)
    assert "a__f_int" in got.columns


@pytest.mark.parametrize("seed", [5, 6])
def test_windowed_aggregations_match_brute_force(
    fs: FeatureStore, tmp_path: Path, seed: int
) -> None:
    """Aggregates slide with each entity row's time: random events with peers at equal times,
    rows exactly at event times, before any event, long after the last one, unknown keys, two
    windowed views (one with a TTL) and a plain view in one request."""
    rng = np.random.default_rng(seed)
    n = 600
    events = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in rng.integers(0, 12, n)],
            "ts": seconds(rng.integers(0, 6 * 3600, n) // 30 * 30),  # peers at equal times
            "amount": np.round(rng.gamma(2.0, 20.0, n), 2),
        }
    )
    events.loc[rng.random(n) < 0.1, "amount"] = np.nan
    events.to_parquet(tmp_path / "events.parquet")
    spec = [("sum", "amount", "1h"), ("count", None, "10m"), ("mean", "amount", "30m")]
    spec += [("min", "amount", "2h"), ("max", "amount", "2h")]
    aggs = [(f"{c or 'events'}_{f}_{w}", f, c, pd.Timedelta(w)) for f, c, w in spec]
    recent = [("sum", "amount", "5m"), ("count", None, "20m")]
    recent_aggs = [(f"r_{f}", f, c, pd.Timedelta(w)) for f, c, w in recent]
    fs.apply(
        [
            Entity(name="customer", join_keys=["customer_id"]),
            FeatureView(
                name="spend",
                entities=["customer"],
                source=str(tmp_path / "events.parquet"),
                timestamp_field="ts",
                aggregations=[{"function": f, "column": c, "window": w} for f, c, w in spec],
            ),
            FeatureView(
                name="recent",
                entities=["customer"],
                source=str(tmp_path / "events.parquet"),
                timestamp_field="ts",
                ttl="15m",
                aggregations=[
                    {"function": f, "column": c, "window": w, "name": name}
                    for (f, c, w), (name, *_) in zip(recent, recent_aggs)
                ],
            ),
            FeatureView(
                name="last",
                entities=["customer"],
                source=str(tmp_path / "events.parquet"),
                timestamp_field="ts",
                features={"amount": "float64"},
            ),
        ]
    )
    assert fs.get_feature_view("spend").feature_names == [a[0] for a in aggs]
    times = seconds(rng.integers(-600, 9 * 3600, 250))
    exact = rng.random(250) < 0.3  # at an event's exact time: events at that instant count
    times[exact] = events["ts"].sample(int(exact.sum()), replace=True, random_state=seed).values
    entities = pd.DataFrame(
        {"customer_id": [f"c{i}" for i in rng.integers(0, 14, 250)], "event_timestamp": times}
    )
    got = fs.get_historical_features(entities, ["spend", "recent", "last:amount"])
    assert got.columns[:2].tolist() == ["customer_id", "event_timestamp"]
    assert_rows_equal(
        got, brute_force_window(events, "customer_id", "ts", aggs, entities, "event_timestamp")
    )
    ttl = pd.Timedelta("15m")
    assert_rows_equal(
        got,
        brute_force_window(
            events, "customer_id", "ts", recent_aggs, entities, "event_timestamp", ttl
        ),
    )
    assert (got["events_count_10m"] == 0).any() and got["r_count"].isna().any()
    assert got["events_count_10m"].isna().any()  # unknown keys and rows before any event


def test_entity_file_in_and_parquet_out(fs: FeatureStore, tmp_path: Path) -> None:
    data = _setup(fs, tmp_path, 4)
    entities = _entity_rows(np.random.default_rng(9), data)
    entities.to_parquet(tmp_path / "entities.parquet")
    in_memory = fs.get_historical_features(entities, "all")
    from_file = fs.get_historical_features(str(tmp_path / "entities.parquet"), "all")
    pd.testing.assert_frame_equal(from_file, in_memory, check_dtype=False)
    rows = fs.get_historical_features(
        entities, "all", output=str(tmp_path / "out" / "train.parquet")
    )
    assert rows == len(entities)
    written = pd.read_parquet(tmp_path / "out" / "train.parquet")
    pd.testing.assert_frame_equal(written, in_memory, check_dtype=False)


def test_timezone_aware_entity_times_are_utc(fs: FeatureStore, tmp_path: Path) -> None:
    data = _setup(fs, tmp_path, 5)
    naive = _entity_rows(np.random.default_rng(10), data)
    aware = naive.assign(
        event_timestamp=naive["event_timestamp"].dt.tz_localize("UTC").dt.tz_convert("Asia/Tokyo")
    )
    a = fs.get_historical_features(naive, "all")
    b = fs.get_historical_features(aware, "all")
    pd.testing.assert_frame_equal(
        a.drop(columns="event_timestamp"), b.drop(columns="event_timestamp")
    )


# -- bad input ------------------------------------------------------------------------------
def test_entity_rows_missing_keys_or_times(fs: FeatureStore, tmp_path: Path) -> None:
    _setup(fs, tmp_path, 0)
    with pytest.raises(DataValidationError, match=r"no column 'merchant_id'.*join key of c"):
        fs.get_historical_features(
            pd.DataFrame({"customer_id": [1], "event_timestamp": [T0]}), "all"
        )
    with pytest.raises(DataValidationError, match="no column 'event_timestamp'"):
        fs.get_historical_features(pd.DataFrame({"customer_id": [1], "ts": [T0]}), ["a"])
    with pytest.raises(DataValidationError, match="1 of 2 entity rows have no timestamp"):
        fs.get_historical_features(
            pd.DataFrame({"customer_id": [1, 2], "event_timestamp": [T0, pd.NaT]}), ["a"]
        )
    with pytest.raises(DataValidationError, match="not timestamps"):
        fs.get_historical_features(
            pd.DataFrame({"customer_id": [1], "event_timestamp": [5]}), ["a"]
        )
    with pytest.raises(DataValidationError, match="Join key 'customer_id' is VARCHAR"):
        fs.get_historical_features(
            pd.DataFrame({"customer_id": ["1"], "event_timestamp": [T0]}), ["a"]
        )
    empty = pd.DataFrame({"customer_id": [], "event_timestamp": []})  # pandas: float64
    with pytest.raises(DataValidationError, match=r"entity frame is empty \(0 rows\)"):
        fs.get_historical_features(empty, ["a"])
    typed = empty.astype({"customer_id": "int64", "event_timestamp": "datetime64[ns]"})
    assert fs.get_historical_features(typed, ["a"]).empty  # typed and empty: no rows, no error


def test_a_missing_entity_file_is_named_as_such(
    fs: FeatureStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _setup(fs, tmp_path, 0)
    monkeypatch.chdir(tmp_path)
    expected = re.escape(
        "The entity file 'rows.parquet' does not exist: no file matches it. Check the path "
        f"(a relative path is resolved against the current directory, {tmp_path})."
    )
    with pytest.raises(NotFoundError, match=expected):
        fs.get_historical_features("rows.parquet", ["a"])
    with pytest.raises(NotFoundError, match=expected):
        fs.get_training_set(["a"], "rows.parquet")


def test_unknown_features_suggest_close_names(fs: FeatureStore, tmp_path: Path) -> None:
    _setup(fs, tmp_path, 0)
    rows = pd.DataFrame({"customer_id": [1], "event_timestamp": [T0]})
    with pytest.raises(NotFoundError, match=r"no feature 'f_flaot'.*did you mean 'a:f_float'"):
        fs.get_historical_features(rows, ["a:f_flaot"])
    with pytest.raises(NotFoundError, match=r"No feature view named 'aa'.*did you mean 'a'"):
        fs.get_historical_features(rows, ["aa:f_int"])
    with pytest.raises(NotFoundError, match=r"No feature service named 'al'.*did you mean 'all'"):
        fs.get_historical_features(rows, "al")


def test_missing_or_mistyped_sources(fs: FeatureStore, tmp_path: Path) -> None:
    customer = Entity(name="customer", join_keys=["customer_id"])
    view = FeatureView(
        name="v",
        entities=["customer"],
        source=str(tmp_path / "nope.parquet"),
        timestamp_field="event_ts",
        features={"x": "int64"},
    )
    with pytest.raises(SpecError, match=r"feature_view\[v\]\.source: .*does not exist"):
        fs.apply([customer, view])
    assert fs.list_definitions() == []  # nothing stored when anything is wrong

    pd.DataFrame({"customer_id": [1], "event_ts": [T0], "x": ["text"]}).to_parquet(
        tmp_path / "nope.parquet"
    )
    fs.apply([customer, view])
    rows = pd.DataFrame({"customer_id": [1], "event_timestamp": [T0]})
    with pytest.raises(DataValidationError, match="declared int64 but the data holds VARCHAR"):
        fs.get_historical_features(rows, ["v:x"])
    (tmp_path / "nope.parquet").unlink()
    with pytest.raises(NotFoundError, match="does not exist"):
        fs.get_historical_features(rows, ["v:x"])
