"""Conformance suite of the online store, run against every backend (SQLite, real Redis)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.entities import MISSING, OnlineRead
from modelyard.errors import ConfigError, UnknownSchemeError
from modelyard.storage.online import OnlineStore, open_online_store


@pytest.fixture(params=["sqlite", "redis"])
def online(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineStore]:
    if request.param == "sqlite":
        store = open_online_store(f"sqlite:///{tmp_path / 'online.db'}")
    else:
        url, namespace = request.getfixturevalue("redis_namespace")
        store = open_online_store(f"{url}?namespace={namespace}")
    yield store
    store.close()


def _read(store: OnlineStore, view: str, keys: list[str], fields: list[str]) -> list[object]:
    return store.read([OnlineRead(view, tuple(keys), tuple(fields))])[0]


def test_write_then_read_many_entities(online: OnlineStore) -> None:
    rows = [
        (f"k{i}", 1000 + i, {"a": i, "b": f"s{i}", "c": i / 2, "d": i % 2 == 0}) for i in range(250)
    ]
    assert online.write("v", rows) == 250
    got = _read(online, "v", ["k7", "nope", "k249"], ["a", "b", "c", "d"])
    assert got[0].event_ms == 1007 and got[0].values == (7, "s7", 3.5, False)
    assert got[1] is None
    assert got[2].values == (249, "s249", 124.5, False)
    assert len(_read(online, "v", [f"k{i}" for i in range(250)], ["a"])) == 250


def test_one_round_trip_for_several_views(online: OnlineStore) -> None:
    online.write("v1", [("e", 1, {"x": 1.0})])
    online.write("v2", [("e", 2, {"y": None})])
    v1, v2 = online.read([OnlineRead("v1", ("e",), ("x",)), OnlineRead("v2", ("e", "f"), ("y",))])
    assert v1[0].values == (1.0,)
    assert v2[0].values == (None,)  # a stored null is not a missing field
    assert v2[1] is None


def test_missing_fields_and_views_are_separate(online: OnlineStore) -> None:
    online.write("v1", [("e", 1, {"x": 1})])
    (row,) = _read(online, "v1", ["e"], ["x", "new_feature"])
    assert row.values[0] == 1 and row.values[1] is MISSING
    assert _read(online, "v2", ["e"], ["x"]) == [None]


def test_an_older_row_never_replaces_a_newer_one(online: OnlineStore) -> None:
    online.write("v", [("e", 200, {"x": 2})])
    online.write("v", [("e", 100, {"x": 1})])
    assert _read(online, "v", ["e"], ["x"])[0].values == (2,)
    online.write("v", [("e", 200, {"x": 3})])  # same time: the later write wins
    online.write("v", [("e", 300, {"x": 4, "y": 5})])
    row = _read(online, "v", ["e"], ["x", "y"])[0]
    assert (row.event_ms, row.values) == (300, (4, 5))


def test_empty_reads_and_times_before_1970(online: OnlineStore) -> None:
    online.write("v", [("e", -5000, {"x": 1}), ("f", 7, {"x": 2})])
    online.write("v", [("e", -6000, {"x": 0})])  # older still: ignored
    got = online.read([OnlineRead("v", (), ("x",)), OnlineRead("v", ("e", "f"), ("x",))])
    assert got[0] == []
    assert [(r.event_ms, r.values) for r in got[1] if r] == [(-5000, (1,)), (7, (2,))]
    assert online.read([OnlineRead("v", (), ("x",))]) == [[]]


def test_window_states_round_trip(online: OnlineStore) -> None:
    """A windowed view's row holds a document (lists with nulls), read back as it was."""
    window = {"h": 3_600_000, "ts": [-5, 10, 10], "amount": [1.5, None, 2.0]}
    online.write("w", [("e", 10, {"__window": window}), ("f", 3, {"__window": {"h": 1, "ts": []}})])
    e, f = _read(online, "w", ["e", "f"], ["__window"])
    assert (e.event_ms, e.values) == (10, (window,))
    assert f.values == ({"h": 1, "ts": []},)


def test_special_values_round_trip(online: OnlineStore) -> None:
    online.write("v", [("ü:ñ\x1fkey", 5, {"nan": float("nan"), "big": 2**62, "txt": "a\"b'c"})])
    (row,) = _read(online, "v", ["ü:ñ\x1fkey"], ["nan", "big", "txt"])
    assert row.values[0] != row.values[0]  # NaN
    assert row.values[1:] == (2**62, "a\"b'c")


def test_transact_updates_state_and_rows_atomically(online: OnlineStore) -> None:
    seen: list[dict[str, str | None]] = []

    def update(states: dict[str, str | None]) -> tuple[list, dict[str, str]]:
        seen.append(dict(states))
        count = {k: int(v or 0) + 1 for k, v in states.items()}
        return [(k, 10, {"n": c}) for k, c in count.items()], {k: str(c) for k, c in count.items()}

    assert online.transact("v", ["a", "b"], update) == 2
    online.transact("v", ["a"], update)
    assert seen[0] == {"a": None, "b": None}
    assert seen[1] == {"a": "1"}
    assert [r.values for r in _read(online, "v", ["a", "b"], ["n"])] == [(2,), (1,)]

    def failing(states: dict[str, str | None]) -> tuple[list, dict[str, str]]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        online.transact("v", ["a"], failing)
    online.transact("v", ["a"], update)
    assert seen[-1] == {"a": "2"}  # the failed update changed nothing


def test_concurrent_transactions_never_lose_an_update(online: OnlineStore) -> None:
    def update(states: dict[str, str | None]) -> tuple[list, dict[str, str]]:
        n = int(states["k"] or 0) + 1
        return [("k", n, {"n": n})], {"k": str(n)}

    errors: list[BaseException] = []

    def worker() -> None:
        try:  # each thread opens its own connection: first connects race each other too
            for _ in range(25):
                online.transact("v", ["k"], update)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert _read(online, "v", ["k"], ["n"])[0].values == (100,)


def test_delete_view(online: OnlineStore) -> None:
    online.write("v", [("a", 1, {"x": 1}), ("b", 1, {"x": 2})])
    online.write("w", [("a", 1, {"x": 3})])
    assert online.delete_view("v") == 2
    assert _read(online, "v", ["a", "b"], ["x"]) == [None, None]
    assert _read(online, "w", ["a"], ["x"])[0].values == (3,)


def test_check_describes_the_store(online: OnlineStore) -> None:
    assert online.check()


def test_uri_errors(tmp_path: Path) -> None:
    with pytest.raises(UnknownSchemeError, match="did you mean 'sqlite'"):
        open_online_store("sqlit:///x.db")
    with pytest.raises(ConfigError, match="namepsace"):
        open_online_store("redis://127.0.0.1:6379/0?namepsace=x")
    with pytest.raises(ConfigError, match="synchronous"):
        open_online_store(f"sqlite:///{tmp_path}/o.db?synchronous=MAYBE")
