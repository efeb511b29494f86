"""The DuckDB offline store on local files and on S3 (a real moto server: fsspec filesystems
registered with DuckDB, no httpfs download)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from modelyard.config import Settings
from modelyard.entities import OfflineSource, ViewQuery
from modelyard.errors import ConfigError, NotFoundError, UnknownSchemeError
from modelyard.features import Entity, FeatureStore, FeatureView
from modelyard.storage import Workspace
from modelyard.storage.offline import DuckDBOfflineStore, open_offline_store

T0 = pd.Timestamp("2026-01-01")


def _view(source: str) -> ViewQuery:
    return ViewQuery(
        name="v",
        sources=(OfflineSource(path=source), OfflineSource(log="v")),
        timestamp_field="ts",
        join_keys=("k",),
        features={"x": "float64"},
        outputs=(("x", "x"),),
    )


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        {"k": [1, 1, 2], "ts": [T0, T0 + pd.Timedelta("1h"), T0], "x": [1.0, 2.0, 3.0]}
    )


def test_local_join_log_and_latest(tmp_path: Path) -> None:
    store = open_offline_store(f"duckdb:///{tmp_path / 'offline'}?threads=1&memory_limit=1GB")
    assert isinstance(store, DuckDBOfflineStore)
    _rows().to_parquet(tmp_path / "src.parquet")
    assert not store.has_log("v")
    store.append_log("v", pa.table({"k": [2], "ts": [T0 + pd.Timedelta("2h")], "x": [9.0]}))
    assert store.has_log("v")
    entities = pa.table(
        {"k": [1, 2, 3], "t": [T0 + pd.Timedelta("30m"), T0 + pd.Timedelta("3h"), T0]}
    )
    got = store.get_historical_features(entities, "t", [_view(str(tmp_path / "src.parquet"))])
    assert got.column("x").to_pylist() == [1.0, 9.0, None]
    latest = pa.Table.from_batches(
        list(store.latest_values(_view(str(tmp_path / "src.parquet")), 0, 2**42))
    ).sort_by("k")
    assert latest.column("x").to_pylist() == [2.0, 9.0]
    assert store.check().startswith("DuckDB")
    store.close()


def test_uri_options_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="threads"):
        open_offline_store(f"duckdb:///{tmp_path}?threads=0")
    with pytest.raises(ConfigError, match="memory_limt"):
        open_offline_store(f"duckdb:///{tmp_path}?memory_limt=1GB")
    with pytest.raises(UnknownSchemeError, match="did you mean 'duckdb'"):
        open_offline_store("duckbd:///x")


@pytest.mark.s3
def test_offline_store_on_s3(tmp_path: Path, s3_bucket: tuple[str, str]) -> None:
    endpoint, bucket = s3_bucket
    import s3fs

    s3 = s3fs.S3FileSystem(endpoint_url=endpoint)
    with s3.open(f"{bucket}/data/tx.parquet", "wb") as fh:
        _rows().to_parquet(fh)
    ws = Workspace(
        Settings.resolve(
            home=str(tmp_path / "home"),
            offline_uri=f"s3://{bucket}/offline",
            s3_endpoint_url=endpoint,
        )
    )
    fs = FeatureStore(ws, refresh_s=0)
    fs.apply(
        [
            Entity(name="key", join_keys=["k"]),
            FeatureView(
                name="v",
                entities=["key"],
                source=f"s3://{bucket}/data/tx.parquet",
                timestamp_field="ts",
                features={"x": "float64"},
            ),
        ]
    )
    fs.push("v", [{"k": 3, "ts": T0 + pd.Timedelta("1h"), "x": 7.5}])
    assert s3.glob(f"{bucket}/offline/logs/v/*.parquet")
    entities = pd.DataFrame({"k": [1, 3], "event_timestamp": [T0 + pd.Timedelta("2h")] * 2})
    got = fs.get_historical_features(entities, ["v:x"])
    assert got["x"].tolist() == [2.0, 7.5]
    assert "reachable" in ws.offline.check()
    ws.close()

    missing = open_offline_store(f"s3://no-such-bucket-{bucket}/x", s3_endpoint_url=endpoint)
    with pytest.raises(NotFoundError, match="does not exist"):
        missing.check()
