"""The event log (prediction and feedback logs) on local files and on S3 (a local moto_server)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from modelyard.errors import InvalidArgumentError
from modelyard.storage.logs import EventLog

DAY = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


@pytest.fixture(params=["file", "s3"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventLog]:
    if request.param == "file":
        yield EventLog(f"file://{tmp_path / 'logs'}")
    else:
        endpoint, bucket = request.getfixturevalue("s3_bucket")
        yield EventLog(f"s3://{bucket}/logs", s3_endpoint_url=endpoint)


def _rows(start: dt.datetime, n: int, step: dt.timedelta, first_id: int = 0) -> pa.Table:
    return pa.table(
        {
            "prediction_id": [f"p{first_id + i}" for i in range(n)],
            "ts": pa.array([start + i * step for i in range(n)], pa.timestamp("ms", tz="UTC")),
            "input.amount": [float(i) for i in range(n)],
        }
    )


def test_append_splits_by_date_and_reads_in_time_order(log: EventLog) -> None:
    # 6 rows 10 h apart span three dates; appended in two batches, the later one first
    late = _rows(DAY + dt.timedelta(hours=30), 3, dt.timedelta(hours=10), first_id=3)
    early = _rows(DAY, 3, dt.timedelta(hours=10))
    written = log.append("predictions", late, partition={"model": "fraud"})
    written += log.append("predictions", early, partition={"model": "fraud"})
    dates = sorted({p.split("date=")[1][:10] for p in written})
    assert dates == ["2026-03-01", "2026-03-02", "2026-03-03"]
    table = log.read("predictions", partition={"model": "fraud"})
    assert table is not None
    assert table.column("prediction_id").to_pylist() == [f"p{i}" for i in range(6)]
    assert table.schema.field("ts").type == pa.timestamp("ms", tz="UTC")


def test_time_window_and_last_n(log: EventLog) -> None:
    log.append("predictions", _rows(DAY, 48, dt.timedelta(hours=1)), partition={"model": "m"})
    window = log.read(
        "predictions",
        partition={"model": "m"},
        start=DAY + dt.timedelta(hours=20),
        end=DAY + dt.timedelta(hours=26),
    )
    assert window is not None
    assert window.column("prediction_id").to_pylist() == [f"p{i}" for i in range(20, 26)]
    newest = log.read("predictions", partition={"model": "m"}, last=5)
    assert newest is not None
    assert newest.column("prediction_id").to_pylist() == [f"p{i}" for i in range(43, 48)]
    # a row filter applies before last counts: the newest 5 of the rows it keeps
    early = pc.field("input.amount") < 30
    filtered = log.read("predictions", partition={"model": "m"}, last=5, where=early)
    assert filtered is not None
    assert filtered.column("prediction_id").to_pylist() == [f"p{i}" for i in range(25, 30)]


def test_partitions_are_separate_and_listed(log: EventLog) -> None:
    log.append("predictions", _rows(DAY, 2, dt.timedelta(minutes=1)), partition={"model": "a"})
    log.append("predictions", _rows(DAY, 3, dt.timedelta(minutes=1)), partition={"model": "b"})
    assert log.keys("predictions", "model") == ["a", "b"]
    b = log.read("predictions", partition={"model": "b"})
    assert b is not None and b.num_rows == 3
    assert log.read("predictions", partition={"model": "c"}) is None
    assert log.read("feedback") is None


def test_columns_differ_between_files(log: EventLog) -> None:
    log.append("predictions", _rows(DAY, 2, dt.timedelta(minutes=1)), partition={"model": "m"})
    wider = _rows(DAY + dt.timedelta(minutes=5), 2, dt.timedelta(minutes=1), first_id=2)
    wider = wider.append_column("input.channel", pa.array(["pos", "atm"]))
    log.append("predictions", wider, partition={"model": "m"})
    table = log.read("predictions", partition={"model": "m"})
    assert table is not None
    assert table.column("input.channel").to_pylist() == [None, None, "pos", "atm"]
    only = log.read("predictions", partition={"model": "m"}, columns=["input.channel"])
    assert only is not None and set(only.column_names) == {"input.channel", "ts"}


def test_epoch_millis_and_naive_times_are_utc(log: EventLog) -> None:
    ms = int(DAY.timestamp() * 1000)
    log.append("feedback", pa.table({"prediction_id": ["x"], "ts": [ms], "label": [1.0]}))
    naive = DAY.replace(tzinfo=None) + dt.timedelta(minutes=1)
    log.append("feedback", pa.table({"prediction_id": ["y"], "ts": [naive], "label": [0.0]}))
    table = log.read("feedback", start="2026-03-01T00:00:00Z", end=ms + 120_000)
    assert table is not None and table.column("prediction_id").to_pylist() == ["x", "y"]


def test_bad_input_is_refused_and_nothing_is_written(log: EventLog) -> None:
    with pytest.raises(InvalidArgumentError, match="'ts' column"):
        log.append("predictions", pa.table({"a": [1]}), partition={"model": "m"})
    with pytest.raises(InvalidArgumentError, match="model"):
        log.append("predictions", _rows(DAY, 1, dt.timedelta(1)), partition={"model": "../x"})
    with pytest.raises(InvalidArgumentError, match="ts"):
        log.append("predictions", pa.table({"ts": ["not a time"]}), partition={"model": "m"})
    with pytest.raises(InvalidArgumentError, match="ISO-8601"):
        log.read("predictions", start="yesterday")
    assert log.keys("predictions", "model") == []


def test_a_column_written_as_numbers_and_as_text_reads_as_text(tmp_path: Path) -> None:
    log = EventLog(f"file://{tmp_path / 'logs'}")
    ts = pa.array([DAY], pa.timestamp("ms", tz="UTC"))
    log.append("feedback", pa.table({"prediction_id": ["a"], "ts": ts, "label": [1.0]}))
    log.append("feedback", pa.table({"prediction_id": ["b"], "ts": ts, "label": ["cat"]}))
    table = log.read("feedback")
    assert table is not None and table.schema.field("label").type == pa.string()
    assert sorted(table.column("label").to_pylist()) == ["1", "cat"]
