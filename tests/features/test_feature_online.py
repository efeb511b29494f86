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

    fresh = store.get_online_features("svc", rows, now=T0 + 3 * H)
    assert fresh.feature_names == ["spend", "visits", "segment"]
    assert fresh.values[0] == [2.0, 2, "y"]  # a's value at T0+1h (T0+10h is outside the window)
    assert fresh.statuses[0] == ["present"] * 3
    assert fresh.values[2] == [None, 4, "w"]  # a stored null is present, not missing
    assert fresh.statuses[2][0] == "present"
    assert fresh.statuses[3] == ["not_found"] * 3
    # as of T0+2h, c's value (from T0+3h) is from the future: never returned
    past = store.get_online_features("svc", rows, now=T0 + 2 * H)
    assert past.values[2] == [None, None, None]
    assert past.statuses[2] == ["not_found"] * 3
    assert past.values[1] == [3.0, 3, "z"]  # b's value is from exactly T0+2h

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
        ({**good, "customer_id": np.array([1, 2])}, "join key 'customer_id' must be a string"),
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
    store.workspace.online.write(
        "stats", [("42", int((T0 + 2 * H).timestamp() * 1000), {"spend": 7.0})]
    )
    refs = ["stats:spend", "profile:segment", "stats:visits"]  # stats is not side by side
    keys = ["a", "b", "z", 42, "c"]
    by_rows = store.get_online_features(refs, [{"customer_id": k} for k in keys], now=T0 + 3 * H)
    by_columns = store.get_online_features(refs, {"customer_id": keys}, now=T0 + 3 * H)
    text_only = store.get_online_features(refs, {"customer_id": keys[:3]}, now=T0 + 3 * H)
    assert by_rows == by_columns
    assert text_only.values == by_rows.values[:3] and text_only.statuses == by_rows.statuses[:3]
    assert by_rows.values[0] == [2.0, "y", 2]
    assert by_rows.values[3] == [7.0, None, None]  # 42 names the entity written as "42"
    assert by_rows.statuses[3] == ["present", "not_found", "not_found"]  # visits not held
    assert by_rows.statuses[2] == ["not_found"] * 3
    side_by_side = store.get_online_features(["stats"], {"customer_id": keys}, now=T0 + 3 * H)
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


def _apply_windows(fs: FeatureStore, tmp_path: Path) -> None:
    """Three payments of c1 at 00:01, 00:02, 00:03 (the audit's case), one of c2 at 02:00."""
    minute = pd.Timedelta("1min")
    pd.DataFrame(
        {
            "customer_id": ["c1", "c1", "c1", "c2"],
            "ts": [T0 + minute, T0 + 2 * minute, T0 + 3 * minute, T0 + 2 * H],
            "amount": [1.0, 2.0, 3.0, 4.0],
        }
    ).to_parquet(tmp_path / "tx.parquet")
    fs.apply(
        [
            Entity(name="customer", join_keys=["customer_id"]),
            FeatureView(
                name="tx",
                entities=["customer"],
                source=str(tmp_path / "tx.parquet"),
                timestamp_field="ts",
                ttl="7d",
                aggregations=[
                    {"function": "count", "window": "10m"},
                    {"function": "sum", "column": "amount", "window": "1h"},
                    {"function": "mean", "column": "amount", "window": "1h"},
                    {"function": "count", "window": "24h"},
                    {"function": "max", "column": "amount", "window": "24h"},
                ],
            ),
        ]
    )


# (read time, c1's expected values): the aggregates slide with the read time
SLIDING = [
    (T0 + pd.Timedelta("3min"), [3, 6.0, 2.0, 3, 3.0]),
    (T0 + pd.Timedelta("12min"), [2, 6.0, 2.0, 3, 3.0]),  # [00:02, 00:12] holds 00:02, 00:03
    (T0 + 5 * H, [0, 0.0, None, 3, 3.0]),  # hours later: nothing in 10m / 1h, all in 24h
    (T0 + pd.Timedelta(days=2), [0, 0.0, None, 0, None]),  # known (TTL 7d), every window empty
]


def test_windowed_aggregates_slide_with_the_read_time(store: FeatureStore, tmp_path: Path) -> None:
    _apply_windows(store, tmp_path)
    # incrementally: the second run rewrites c1's window with its third event
    first = store.materialize_incremental(end=T0 + pd.Timedelta("2min30s"))
    assert first[0].rows == 1
    early = store.get_online_features(["tx"], [{"customer_id": "c1"}], now=first[0].end)
    assert early.values == [[2, 3.0, 1.5, 2, 2.0]]
    store.materialize_incremental(end=T0 + 3 * H)
    names = ["events_count_10m", "amount_sum_1h", "amount_mean_1h", "events_count_1d"]
    assert store.resolve(["tx"]).names == (*names, "amount_max_1d")
    for at, want in SLIDING:
        online = store.get_online_features(["tx"], [{"customer_id": "c1"}], now=at)
        assert online.values == [want], at
        assert online.statuses == [["present"] * 5]
        assert online.event_ms == [[int((T0 + pd.Timedelta("3min")).timestamp() * 1000)] * 5]
        offline = store.get_historical_features(
            pd.DataFrame({"customer_id": ["c1"], "event_timestamp": [at]}), ["tx"]
        )
        got = offline[online.feature_names].iloc[0].tolist()
        assert [None if pd.isna(v) else v for v in got] == want, at
        assert store.check_parity(["tx"], at=at).ok
    # past the TTL: expired online, null offline; before the first event: unknown
    late = store.get_online_features(["tx"], [{"customer_id": "c1"}], now=T0 + pd.Timedelta(days=8))
    assert late.statuses == [["expired"] * 5] and late.values == [[None] * 5]
    offline = store.get_historical_features(
        pd.DataFrame(
            {
                "customer_id": ["c1", "c1", "zz"],
                "event_timestamp": [T0 + pd.Timedelta(days=8), T0, T0],
            }
        ),
        ["tx"],
    )
    assert offline[names].isna().all().all()
    # as of a time before c1's stored latest event (00:03): from that time's future, not found
    past = store.get_online_features(["tx"], [{"customer_id": "c1"}], now=T0 + pd.Timedelta("2min"))
    assert past.statuses == [["not_found"] * 5]
    # one read, one instant per row: each row's aggregates at its own time
    rows = [{"customer_id": "c1"}, {"customer_id": "c2"}, {"customer_id": "c1"}]
    per_row = store.get_online_features(
        ["tx:events_count_1d", "tx:amount_sum_1h"], rows, now=[T0 + 5 * H, T0 + 2 * H, T0 + 2 * H]
    )
    assert per_row.values == [[3, 0.0], [1, 4.0], [3, 0.0]]


def test_window_states_of_another_layout_read_as_not_found(
    store: FeatureStore, tmp_path: Path
) -> None:
    """Rows written before window states, or for narrower windows / other columns, are never
    read as values: materialize again."""
    _apply_windows(store, tmp_path)
    ms = int(T0.timestamp() * 1000)
    narrow = {"h": 600_000, "ts": [ms], "other": [1.0]}  # 10 minutes, no amount column
    store.workspace.online.write(
        "tx", [("old", ms, {"events_count_10m": 5}), ("narrow", ms, {"__window": narrow})]
    )
    got = store.get_online_features(["tx"], {"customer_id": ["old", "narrow"]}, now=ms)
    assert got.statuses[0] == ["not_found"] * 5
    assert got.values[1] == [1, None, None, None, None]
    assert got.statuses[1] == ["present"] + ["not_found"] * 4
