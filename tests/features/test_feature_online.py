"""Materialization, online reads with TTL enforced on read, push, and parity, on SQLite and on
a real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelyard.errors import DataValidationError, InvalidArgumentError
from modelyard.features import Entity, FeatureService, FeatureStore, FeatureView
from tests.features.feature_helpers import T0, make_workspace

H = pd.Timedelta("1h")


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FeatureStore]:
    overrides = {}
    if request.param == "redis":
        url, namespace = request.getfixturevalue("redis_namespace")
        overrides["online_uri"] = f"{url}?namespace={namespace}"
    ws = make_workspace(tmp_path, **overrides)
    yield FeatureStore(ws, refresh_s=0.0)
    ws.close()


def _apply(fs: FeatureStore, tmp_path: Path) -> pd.DataFrame:
    data = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c", "a"],
            "event_ts": [T0, T0 + H, T0 + 2 * H, T0 + 3 * H, T0 + 10 * H],
            "spend": [1.0, 2.0, 3.0, None, 5.0],
            "visits": [1, 2, 3, 4, 5],
            "segment": ["x", "y", "z", "w", "v"],
        }
    )
    data.to_parquet(tmp_path / "customers.parquet")
    fs.apply(
        [
            Entity(name="customer", join_keys=["customer_id"]),
            FeatureView(
                name="stats",
                entities=["customer"],
                source=str(tmp_path / "customers.parquet"),
                timestamp_field="event_ts",
                features={"spend": "float64", "visits": "int64"},
                ttl="2h",
            ),
            FeatureView(
                name="profile",
                entities=["customer"],
                source=str(tmp_path / "customers.parquet"),
                timestamp_field="event_ts",
                features={"segment": "string"},
            ),
            FeatureService(name="svc", features=["stats", "profile:segment"]),
        ]
    )
    return data


def test_materialize_and_read_with_ttl(store: FeatureStore, tmp_path: Path) -> None:
    _apply(store, tmp_path)
    done = store.materialize(T0, T0 + 4 * H)
    assert {(m.view, m.rows) for m in done} == {("stats", 3), ("profile", 3)}
    rows = [{"customer_id": "a"}, {"customer_id": "b"}, {"customer_id": "c"}, {"customer_id": "z"}]

    fresh = store.get_online_features("svc", rows, now=T0 + 2 * H)
    assert fresh.feature_names == ["spend", "visits", "segment"]
    assert fresh.values[0] == [2.0, 2, "y"]  # a's value at T0+1h (T0+10h is outside the window)
    assert fresh.statuses[0] == ["present"] * 3
    assert fresh.values[2] == [None, 4, "w"]  # a stored null is present, not missing
    assert fresh.statuses[2][0] == "present"
    assert fresh.statuses[3] == ["not_found"] * 3

    later = store.get_online_features("svc", rows, now=T0 + 3 * H + pd.Timedelta("1s"))
    # a's stats are 2h01s old: expired (None), never served as fresh; profile has no TTL
    assert later.values[0] == [None, None, "y"]
    assert later.statuses[0] == ["expired", "expired", "present"]
    assert later.statuses[1] == ["present", "present", "present"]  # b: exactly 1h old
    edge = store.get_online_features(["stats:visits"], rows[:1], now=T0 + 3 * H)
    assert edge.statuses == [["present"]]  # exactly ttl old is still fresh

    columnar = store.get_online_features(
        ["profile:segment", "stats:visits"], {"customer_id": ["b", "a"]}, now=T0 + 2 * H
    )
    assert columnar.values == [["z", 3], ["y", 2]]
    assert columnar.to_records() == [{"segment": "z", "visits": 3}, {"segment": "y", "visits": 2}]


def test_materialize_incremental_remembers_where_it_stopped(
    store: FeatureStore, tmp_path: Path
) -> None:
    _apply(store, tmp_path)
    first = store.materialize_incremental(end=T0 + 1.5 * H, views=["stats"])
    assert first[0].start == 0 and first[0].rows == 1
    second = store.materialize_incremental(end=T0 + 12 * H, views=["stats"])
    assert second[0].start == first[0].end
    assert second[0].rows == 3  # a (newer), b, c
    got = store.get_online_features(["stats:visits"], [{"customer_id": "a"}], now=T0 + 11 * H)
    assert got.values == [[5]]
    events = store.workspace.metadata.audit.list_events(action="feature_view.materialize")
    assert len(events) == 2


def test_a_new_version_is_materialized_from_the_beginning(
    store: FeatureStore, tmp_path: Path
) -> None:
    """A changed definition (new version) does not resume from the old version's end: entities
    with no new events would keep rows without the new features."""
    _apply(store, tmp_path)
    store.materialize_incremental(end=T0 + 4 * H, views=["profile"])
    store.apply(
        [
            FeatureView(
                name="profile",
                entities=["customer"],
                source=str(tmp_path / "customers.parquet"),
                timestamp_field="event_ts",
                features={"segment": "string", "visits": "int64"},
            )
        ]
    )
    [again] = store.materialize_incremental(end=T0 + 4 * H, views=["profile"])
    assert (again.version, again.start, again.rows) == (2, 0, 3)
    got = store.get_online_features(["profile:visits"], [{"customer_id": "b"}])
    assert (got.values, got.statuses) == ([[3]], [["present"]])
    assert store.check_parity(["profile"]).ok
    [resumed] = store.materialize_incremental(end=T0 + 12 * H, views=["profile"])
    assert (resumed.version, resumed.start) == (2, again.end)


def test_push_writes_online_and_offline(store: FeatureStore, tmp_path: Path) -> None:
    _apply(store, tmp_path)
    pushed = pd.DataFrame(
        {
            "customer_id": ["q", "a"],
            "event_ts": [T0 + 20 * H, T0 + 20 * H],
            "spend": [9.5, np.nan],
            "visits": [np.int64(7), np.int64(8)],
        }
    )
    assert store.push("stats", pushed) == 2
    online = store.get_online_features(
        ["stats:spend", "stats:visits"], {"customer_id": ["q", "a"]}, now=T0 + 21 * H
    )
    assert online.values == [[9.5, 7], [None, 8]]
    offline = store.get_historical_features(
        pd.DataFrame({"customer_id": ["q", "a"], "event_timestamp": [T0 + 21 * H] * 2}),
        ["stats:visits"],
    )
    assert offline["visits"].tolist() == [7, 8]
    report = store.check_parity(["stats"], at=T0 + 21 * H)  # profile was never materialized
    assert report.ok, report.to_dict()


def test_bad_pushes_write_nothing(store: FeatureStore, tmp_path: Path) -> None:
    _apply(store, tmp_path)
    good = {"customer_id": "q", "event_ts": T0, "spend": 1.0, "visits": 1}
    cases = [
        ({**good, "visits": "many"}, r"'visits' must be an integer \(int64\), got str 'many'"),
        ({**good, "spend": "1.5"}, r"'spend' must be a number"),
        ({**good, "visits": 1.5}, "must be an integer"),
        ({**good, "visits": True}, "must be an integer"),
        ({**good, "event_ts": "yesterday-ish"}, "'event_ts' must be a time"),
        ({k: v for k, v in good.items() if k != "visits"}, "row 1 has no column 'visits'"),
        ({**good, "vists": 1}, "unknown column 'vists'"),
        ({**good, "customer_id": None}, "join key 'customer_id' must be a string"),
        (
            {**good, "visits": 2**70},
            r"row 1 of 'stats': 'visits' is int64, but 1180591620717411303424 is out of its range",
        ),
        ({**good, "visits": -(2**63) - 1}, "'visits' is int64, but -9223372036854775809 is out"),
        (
            {**good, "customer_id": 2**64},
            "join key 'customer_id' must be .* got 18446744073709551616",
        ),
        ({**good, "event_ts": 2**62}, "'event_ts' must be a time, got 4611686018427387904"),
    ]
    for row, message in cases:
        with pytest.raises(DataValidationError, match=message):
            store.push("stats", [good, row])  # the good row is not written either
    assert store.get_online_features(["stats:spend"], [{"customer_id": "q"}]).statuses == [
        ["not_found"]
    ]
    assert not store.workspace.offline.has_log("stats")


def test_bad_entity_keys_are_refused_on_read(store: FeatureStore, tmp_path: Path) -> None:
    """Keys push would refuse are an error on read too, not a silent not_found."""
    _apply(store, tmp_path)
    cases = [
        (None, "None"),
        ([1], r"\[1\]"),
        (1.5, "1.5"),
        (True, "True"),
        (np.array([1, 2]), "arr"),
    ]
    for bad, shown in cases:
        message = (
            rf"Entity row 1: join key 'customer_id' must be a string or an integer, got {shown}"
        )
        with pytest.raises(DataValidationError, match=message):
            store.get_online_features(["stats:spend"], [{"customer_id": "a"}, {"customer_id": bad}])
        with pytest.raises(DataValidationError, match=message):
            store.get_online_features(["stats:spend"], {"customer_id": ["a", bad]})
    store.materialize(T0, T0 + 4 * H)
    store.workspace.online.write("stats", [("42", int(T0.timestamp() * 1000), {"spend": 7.0})])
    got = store.get_online_features(
        ["stats:spend"], {"customer_id": [42, 42.0, np.int64(42)]}, now=T0 + H
    )
    assert got.values == [[7.0]] * 3  # 42.0 and numpy integers name the entity "42"


def test_read_layouts_agree(store: FeatureStore, tmp_path: Path) -> None:
    """Rows and columns, text and integer keys, features interleaved across views, values a
    row does not hold: every read path gives the same answer."""
    _apply(store, tmp_path)
    store.materialize(T0, T0 + 4 * H)
    store.workspace.online.write("stats", [("42", int(T0.timestamp() * 1000) + 1, {"spend": 7.0})])
    refs = ["stats:spend", "profile:segment", "stats:visits"]  # stats is not side by side
    keys = ["a", "b", "z", 42, "c"]
    by_rows = store.get_online_features(refs, [{"customer_id": k} for k in keys], now=T0 + 2 * H)
    by_columns = store.get_online_features(refs, {"customer_id": keys}, now=T0 + 2 * H)
    text_only = store.get_online_features(refs, {"customer_id": keys[:3]}, now=T0 + 2 * H)
    assert by_rows == by_columns
    assert text_only.values == by_rows.values[:3] and text_only.statuses == by_rows.statuses[:3]
    assert by_rows.values[0] == [2.0, "y", 2]
    assert by_rows.values[3] == [7.0, None, None]  # 42 names the entity written as "42"
    assert by_rows.statuses[3] == ["present", "not_found", "not_found"]  # visits not held
    assert by_rows.statuses[2] == ["not_found"] * 3
    side_by_side = store.get_online_features(["stats"], {"customer_id": keys}, now=T0 + 2 * H)
    assert side_by_side.values == [[2.0, 2], [3.0, 3], [None, None], [7.0, None], [None, 4]]


def test_online_read_errors(store: FeatureStore, tmp_path: Path) -> None:
    _apply(store, tmp_path)
    with pytest.raises(DataValidationError, match="Entity row 1 has no join key 'customer_id'"):
        store.get_online_features("svc", [{"customer_id": "a"}, {"customer": "b"}])
    with pytest.raises(InvalidArgumentError, match="No features asked for"):
        store.get_online_features([], [{"customer_id": "a"}])


def test_parity_reports_mismatches(store: FeatureStore, tmp_path: Path) -> None:
    data = _apply(store, tmp_path)
    store.materialize(T0, T0 + 12 * H)
    report = store.check_parity("svc")
    assert report.ok and report.entities == 6 and report.compared == 9
    assert report.at_ms == int((T0 + 12 * H).timestamp() * 1000)
    # the offline data changes after materialization: parity catches it
    data.loc[data["customer_id"] == "b", "visits"] = 30
    data.to_parquet(tmp_path / "customers.parquet")
    bad = store.check_parity("svc", at=T0 + 3 * H)
    assert [(m.view, m.entity, m.feature, m.offline, m.online) for m in bad.mismatches] == [
        ("stats", {"customer_id": "b"}, "visits", 30, 3)
    ]


def test_ttl_checked_against_a_time_per_row(tmp_path: Path) -> None:
    """Replaying past events: each entity row read as of its own time."""
    from modelyard.config import Settings
    from modelyard.storage import Workspace

    ws = Workspace(Settings.resolve(home=str(tmp_path / "home")))
    store = FeatureStore(ws)
    store.apply(
        [
            Entity(name="customer", join_keys=["customer_id"]),
            FeatureView(name="spend", entities=["customer"], features={"s": "float64"}, ttl="1h"),
        ]
    )
    ws.online.write("spend", [("c1", 1_000_000, {"s": 1.0}), ("c2", 1_000_000, {"s": 2.0})])
    rows = [{"customer_id": "c1"}, {"customer_id": "c2"}, {"customer_id": "c1"}]
    got = store.get_online_features(["spend"], rows, now=[1_000_500, 1_000_000 + 7_200_000, 999])
    assert got.values == [[1.0], [None], [None]]
    # the third row is read as of a time before the value existed: never a value from its future
    assert [s[0] for s in got.statuses] == ["present", "expired", "not_found"]
    with pytest.raises(DataValidationError, match="one per row"):
        store.get_online_features(["spend"], rows, now=[1, 2])
    ws.close()
