"""The streaming processor on a real Redis Stream: exact windowed aggregates, dead letters,
redelivery without double counting, and a processor killed (SIGKILL) midway and restarted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelyard.features import FeatureStore, parse_duration
from tests.features.feature_helpers import T0, assert_rows_equal, brute_force_window, make_workspace

pytestmark = pytest.mark.redis

WINDOWS = [
    ("events_count_10m", "count", None, "10m"),
    ("amount_sum_1h", "sum", "amount", "1h"),
    ("amount_mean_1h", "mean", "amount", "1h"),
    ("amount_min_1d", "min", "amount", "1d"),
    ("amount_max_1d", "max", "amount", "1d"),
]
AGGS = [(n, f, c, pd.Timedelta(parse_duration(w), unit="ms")) for n, f, c, w in WINDOWS]
FAR = T0 + pd.Timedelta(days=30)


def _definitions(stream: str, url: str) -> dict[str, object]:
    return {
        "entities": [{"name": "customer", "join_keys": ["customer_id"]}],
        "feature_views": [
            {
                "name": "tx_stats",
                "entities": ["customer"],
                "stream": {"name": stream, "url": url},
                "timestamp_field": "ts",
                "aggregations": [
                    {"function": f, "column": c, "window": w} for _, f, c, w in WINDOWS
                ],
            }
        ],
    }


@pytest.fixture(params=["sqlite", "redis"])
def setup(
    request: pytest.FixtureRequest, tmp_path: Path, redis_namespace: tuple[str, str]
) -> Iterator[tuple[FeatureStore, str]]:
    import yaml

    url, namespace = redis_namespace
    overrides = {}
    if request.param == "redis":
        overrides["online_uri"] = f"{url}?namespace={namespace}"
    ws = make_workspace(tmp_path, **overrides)
    fs = FeatureStore(ws, refresh_s=0.0)
    (tmp_path / "defs.yaml").write_text(yaml.safe_dump(_definitions(f"{namespace}:tx", url)))
    fs.apply(tmp_path / "defs.yaml")
    yield fs, str(tmp_path / "defs.yaml")
    ws.close()


def _events(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.integers(0, 8 * 3600, n)) + rng.integers(-300, 300, n)  # out of order
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in rng.integers(0, 15, n)],
            "ts": T0 + pd.to_timedelta(seconds, unit="s"),
            "amount": np.round(rng.gamma(2.0, 30.0, n), 2),
        }
    )
    frame.loc[rng.random(n) < 0.05, "amount"] = np.nan
    return frame


def _produce(fs: FeatureStore, frame: pd.DataFrame) -> None:
    stream = fs.stream_processor("tx_stats").stream
    stream.add_many(
        [
            {
                "customer_id": r.customer_id,
                "ts": int(r.ts.timestamp() * 1000) if i % 2 else r.ts.isoformat(),
                "amount": "" if pd.isna(r.amount) else repr(r.amount),
            }
            for i, r in enumerate(frame.itertuples())
        ]
    )


DELAYS = [pd.Timedelta(0), pd.Timedelta("5min"), pd.Timedelta("50min"), pd.Timedelta("5h")]


def _assert_exact(fs: FeatureStore, events: pd.DataFrame) -> None:
    customers = sorted(events["customer_id"].unique())
    latest = events.groupby("customer_id")["ts"].max()
    # online: each customer read at its latest event and later, as the windows empty one by one
    entity_rows = pd.DataFrame(
        {
            "customer_id": [c for c in customers for _ in [*DELAYS, FAR]],
            "event_timestamp": [
                t for c in customers for t in [*(latest[c] + d for d in DELAYS), FAR]
            ],
        }
    )
    expected = brute_force_window(events, "customer_id", "ts", AGGS, entity_rows, "event_timestamp")
    online = fs.get_online_features(
        ["tx_stats"],
        {"customer_id": entity_rows["customer_id"].tolist()},
        now=entity_rows["event_timestamp"].tolist(),
    )
    assert all(s == "present" for row in online.statuses for s in row)
    assert_rows_equal(online.to_frame(), expected)
    # offline: the same aggregates, computed by DuckDB from the logged events, at any instant
    rng = np.random.default_rng(3)
    probes = pd.DataFrame(
        {
            "customer_id": rng.choice(customers, 60),
            "event_timestamp": T0 + pd.to_timedelta(rng.integers(0, 9 * 3600, 60), unit="s"),
        }
    )
    probes = pd.concat([probes, entity_rows], ignore_index=True)
    offline = fs.get_historical_features(probes, ["tx_stats"])
    assert_rows_equal(
        offline, brute_force_window(events, "customer_id", "ts", AGGS, probes, "event_timestamp")
    )
    assert fs.check_parity(["tx_stats"], at=FAR).ok
    assert fs.check_parity(["tx_stats"], at=events["ts"].max() + pd.Timedelta("20min")).ok


def test_stream_aggregates_are_exact(setup: tuple[FeatureStore, str]) -> None:
    fs, _ = setup
    events = _events(400, seed=1)
    _produce(fs, events)
    bad = fs.stream_processor("tx_stats").stream
    bad.add({"customer_id": "c1", "ts": "not a time", "amount": "1"})
    bad.add({"customer_id": "c1", "ts": "1767225600000", "amount": "lots"})
    processor = fs.stream_processor("tx_stats", batch_size=64)
    stats = processor.run(until_idle=True)
    assert stats.events == 402 and stats.dead_lettered == 2
    assert processor.wait_idle(5)
    dead = processor.stream.client.xrange(f"{processor.stream.stream}:dead")
    assert len(dead) == 2 and b"_error" in dead[0][1]
    _assert_exact(fs, events)


def test_redelivered_events_are_not_counted_twice(setup: tuple[FeatureStore, str]) -> None:
    fs, _ = setup
    events = _events(300, seed=2)
    _produce(fs, events)
    first = fs.stream_processor("tx_stats", batch_size=50, consumer="worker")
    first.stream.ensure_group(first.group)
    batch = first.stream.read(first.group, "worker", 50)
    first.apply(batch)  # written, then "crashed" before acknowledging
    first.apply(batch)  # a second delivery of the same events changes nothing
    # a restarted processor gets the unacknowledged batch again, then the rest
    again = fs.stream_processor("tx_stats", batch_size=50, consumer="worker")
    again.run(until_idle=True)
    assert again.wait_idle(5)
    _assert_exact(fs, events)


def test_killed_processor_resumes_without_loss_or_double_counting(
    setup: tuple[FeatureStore, str], tmp_path: Path
) -> None:
    fs, _ = setup
    events = _events(1500, seed=3)
    _produce(fs, events)
    stream = fs.stream_processor("tx_stats").stream
    group = "modelyard:tx_stats"
    command = [
        sys.executable,
        "-m",
        "modelyard.cli.main",
        "features",
        "--online-uri",
        fs.workspace.settings.online_uri,
        "stream",
        "tx_stats",
        "--batch-size",
        "7",
        "--consumer",
        "proc",
    ]
    env = {**os.environ, "MODELYARD_HOME": fs.workspace.settings.home}
    for kill_after in (200, 600):  # kill twice, mid-stream
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lag, _ = stream.backlog(group)
            if 0 <= lag <= len(events) - kill_after:
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    lag, _ = stream.backlog(group)
    assert 0 < lag < len(events)  # really killed midway
    done = subprocess.run(
        [*command, "--until-idle"], check=False, env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()
    assert stream.backlog(group) == (0, 0)
    _assert_exact(fs, events)


def test_aggregates_slide_after_the_last_streamed_event(
    setup: tuple[FeatureStore, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The audit's case: 3 events at 00:01-00:03 read at 05:00 count nothing in 10m / 1h."""
    from modelyard.cli.main import main

    fs, _ = setup
    minute = pd.Timedelta("1min")
    events = pd.DataFrame(
        {
            "customer_id": ["c1"] * 3,
            "ts": [T0 + i * minute for i in (1, 2, 3)],
            "amount": [1.0, 2.0, 3.0],
        }
    )
    _produce(fs, events)
    fs.stream_processor("tx_stats").run(until_idle=True)
    uri = fs.workspace.settings.online_uri
    argv = ["features", "--online-uri", uri, "get", "--feature", "tx_stats", "-e", "customer_id=c1"]
    main([*argv, "--at", "2026-01-01T00:03:00", "--json"])
    fresh = json.loads(capsys.readouterr().out)["results"][0]
    assert fresh["values"] == [3, 6.0, 2.0, 1.0, 3.0]
    main([*argv, "--at", "2026-01-01T05:00:00", "--json"])
    later = json.loads(capsys.readouterr().out)["results"][0]
    assert later["values"] == [0, 0.0, None, 1.0, 3.0]
    assert later["statuses"] == ["present"] * 5
    offline = fs.get_historical_features(
        pd.DataFrame({"customer_id": ["c1"], "event_timestamp": [pd.Timestamp("2026-01-06")]}),
        ["tx_stats"],
    )
    assert offline.iloc[0][["events_count_10m", "amount_sum_1h"]].tolist() == [0, 0.0]
    assert offline[["amount_mean_1h", "amount_min_1d", "amount_max_1d"]].isna().all().all()
