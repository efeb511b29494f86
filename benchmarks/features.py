"""Feature store benchmarks: online reads (SQLite, Redis) and the point-in-time join.

    python benchmarks/features.py            # everything (Redis part skipped if unreachable)
    python benchmarks/features.py --quick    # online reads + the 100k x 1M join only

Online: ``FeatureStore.get_online_features`` end to end (plan cache, keys, one store round trip,
TTL statuses), 1 entity x 10 features and 100 entities x 10 features, p50 / p99.
Join: ``get_historical_features`` (every entity row kept, TTL applied, input order restored)
against the same join hand-written in DuckDB SQL (``ASOF LEFT JOIN``, no TTL, no reordering),
both from an in-memory entity frame to a pandas DataFrame; each run in a fresh process so its
peak RSS is its own. Medians of 3 runs. Data is generated here.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

T0 = np.datetime64("2026-01-01T00:00:00", "us").astype(np.int64)
SPAN_US = 90 * 86_400 * 10**6
N_FEATURES = 10
REDIS = "redis://127.0.0.1:6379/0"


# -- online reads -----------------------------------------------------------------------------
def _online_store(home: Path, online_uri: str | None) -> object:
    from modelyard.config import Settings
    from modelyard.features import Entity, FeatureStore, FeatureView
    from modelyard.storage import Workspace

    overrides = {"online_uri": online_uri} if online_uri else {}
    ws = Workspace(Settings.resolve(home=str(home), **overrides))
    fs = FeatureStore(ws, refresh_s=3600)
    fs.apply(
        [
            Entity(name="customer", join_keys=["customer_id"]),
            FeatureView(
                name="stats",
                entities=["customer"],
                features={f"f{i}": "float64" for i in range(N_FEATURES)},
                timestamp_field="ts",
                ttl="1000d",
            ),
        ]
    )
    rng = np.random.default_rng(0)
    now_ms = int(time.time() * 1000)
    ws.online.write(
        "stats",
        [
            (f"c{i}", now_ms, {f"f{j}": float(v) for j, v in enumerate(rng.random(N_FEATURES))})
            for i in range(10_000)
        ],
    )
    return fs


def _latencies(fn: object, n: int) -> tuple[float, float]:
    for _ in range(200):
        fn()  # type: ignore[operator]
    samples = []
    for _ in range(n):
        start = time.perf_counter_ns()
        fn()  # type: ignore[operator]
        samples.append((time.perf_counter_ns() - start) / 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def bench_online(backend: str, rows: list[tuple[str, str, str, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        uri = None
        if backend == "redis":
            try:
                import redis

                redis.Redis.from_url(REDIS, socket_timeout=2).ping()
            except Exception as exc:
                rows.append((f"online {backend}", "skipped", str(exc)[:40], ""))
                return
            uri = f"{REDIS}?namespace=bench:{os.getpid()}"
        fs = _online_store(Path(tmp), uri)
        refs = [f"stats:f{i}" for i in range(N_FEATURES)]
        rng = np.random.default_rng(1)
        one = [{"customer_id": f"c{rng.integers(10_000)}"}]
        many = {"customer_id": [f"c{i}" for i in rng.integers(0, 10_000, 100)]}
        get = fs.get_online_features  # type: ignore[attr-defined]
        p50, p99 = _latencies(lambda: get(refs, one), 5000)
        target = "p99 <= 0.15 ms" if backend == "sqlite" else "p99 <= 0.5 ms"
        rows.append(
            (f"online {backend}, 1 entity x 10 features", f"{p50:.3f} ms", f"{p99:.3f} ms", target)
        )
        p50, p99 = _latencies(lambda: get(refs, many), 1000)
        rows.append(
            (
                f"online {backend}, 100 entities x 10 features",
                f"{p50:.3f} ms",
                f"{p99:.3f} ms",
                "p99 <= 1.5 ms",
            )
        )
        if uri:
            fs.workspace.online.delete_view("stats")  # type: ignore[attr-defined]
        fs.workspace.close()  # type: ignore[attr-defined]


# -- the point-in-time join -------------------------------------------------------------------
def generate(directory: Path, n_entities: int, n_features: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    n_keys = max(n_entities // 10, 1000)
    writer = None
    step = 1_000_000
    for start in range(0, n_features, step):
        n = min(step, n_features - start)
        batch = pa.table(
            {
                "customer_id": rng.integers(0, n_keys, n),
                "event_ts": pa.array(T0 + rng.integers(0, SPAN_US, n), pa.timestamp("us")),
                **{f"f{i}": rng.random(n) for i in range(N_FEATURES)},
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(directory / "features.parquet", batch.schema)
        writer.write_table(batch)
    assert writer is not None
    writer.close()
    pq.write_table(
        pa.table(
            {
                # about 12 % of the entity rows have no feature row at all (unknown keys)
                "customer_id": rng.integers(0, int(n_keys * 1.12), n_entities),
                "event_ts": pa.array(T0 + rng.integers(0, SPAN_US, n_entities), pa.timestamp("us")),
                "label": rng.integers(0, 2, n_entities),
            }
        ),
        directory / "entities.parquet",
    )


def run_join(directory: Path, mode: str) -> dict[str, float]:
    """One join in this process; prints seconds and peak RSS."""
    entities = pd.read_parquet(directory / "entities.parquet")
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    features = str(directory / "features.parquet")
    start = time.perf_counter()
    if mode == "raw":
        import duckdb
        import pyarrow  # noqa: F401  (imported before the clock starts, as in the other mode)

        con = duckdb.connect()
        start = time.perf_counter()  # connected; the join is what counts
        relation = con.sql(
            f"SELECT e.*, f.* EXCLUDE (customer_id, event_ts) FROM entities e "
            f"ASOF LEFT JOIN read_parquet('{features}') f "
            "ON e.customer_id = f.customer_id AND e.event_ts >= f.event_ts"
        )
        frame = relation.to_arrow_table().to_pandas()  # the fastest way to a DataFrame
    else:
        from modelyard.config import Settings
        from modelyard.features import Entity, FeatureStore, FeatureView
        from modelyard.storage import Workspace

        ws = Workspace(Settings.resolve(home=str(directory / "home")))
        fs = FeatureStore(ws)
        fs.apply(
            [
                Entity(name="customer", join_keys=["customer_id"]),
                FeatureView(
                    name="stats",
                    entities=["customer"],
                    source=features,
                    timestamp_field="event_ts",
                    features={f"f{i}": "float64" for i in range(N_FEATURES)},
                    ttl="30d",
                ),
            ]
        )
        start = time.perf_counter()  # definitions registered once; the join is what counts
        frame = fs.get_historical_features(entities, ["stats"], timestamp_column="event_ts")
    seconds = time.perf_counter() - start
    assert len(frame) == len(entities)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": seconds,
        "peak_rss_mb": peak / 1024,
        "delta_rss_mb": (peak - base_rss) / 1024,
    }


def bench_join(n_entities: int, n_features: int, rows: list[tuple[str, str, str, str]]) -> None:
    label = f"{n_entities:,} entity rows x {n_features:,} feature rows"
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        print(f"generating {label} ...", file=sys.stderr)
        generate(directory, n_entities, n_features)
        results: dict[str, list[dict[str, float]]] = {"raw": [], "ours": []}
        for _ in range(3):
            for mode in ("raw", "ours"):
                out = subprocess.run(
                    [sys.executable, __file__, "--join-part", mode, str(directory)],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                results[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
        raw = statistics.median(r["seconds"] for r in results["raw"])
        ours = statistics.median(r["seconds"] for r in results["ours"])
        raw_rss = statistics.median(r["peak_rss_mb"] for r in results["raw"])
        ours_rss = statistics.median(r["peak_rss_mb"] for r in results["ours"])
        rows.append(
            (
                f"PIT join {label}: hand-written DuckDB ASOF",
                f"{raw:.2f} s",
                f"peak RSS {raw_rss:.0f} MB",
                "",
            )
        )
        rows.append(
            (
                f"PIT join {label}: get_historical_features",
                f"{ours:.2f} s",
                f"peak RSS {ours_rss:.0f} MB",
                "",
            )
        )
        rows.append((f"PIT join {label}: ratio", f"{ours / raw:.2f}x", "", "<= 1.5x"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="skip the 1M x 10M join")
    parser.add_argument("--join-part", nargs=2, metavar=("MODE", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.join_part:
        mode, directory = args.join_part
        print(json.dumps(run_join(Path(directory), mode)))
        return
    rows: list[tuple[str, str, str, str]] = []
    bench_online("sqlite", rows)
    bench_online("redis", rows)
    bench_join(100_000, 1_000_000, rows)
    if not args.quick:
        bench_join(1_000_000, 10_000_000, rows)
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Feature store benchmarks (medians)", title_justify="left")
    for col in ("figure", "p50 / time", "p99 / memory", "target"):
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    Console(width=130).print(table)


if __name__ == "__main__":
    main()
