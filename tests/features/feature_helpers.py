"""Helpers for the feature store tests: workspaces, random data, brute-force references."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from modelyard.config import Settings
from modelyard.storage import Workspace

T0 = pd.Timestamp("2026-01-01")


def make_workspace(tmp_path: Path, **overrides: str) -> Workspace:
    return Workspace(Settings.resolve(home=str(tmp_path / "home"), **overrides))


def seconds(values: np.ndarray) -> pd.Series:
    """Times at whole seconds after T0 (coarse on purpose: equal times are common)."""
    return pd.Series(T0 + pd.to_timedelta(values, unit="s"))


def random_feature_rows(rng: np.random.Generator, n: int, n_keys: int, span: int) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "customer_id": rng.integers(0, n_keys, n),
            "event_ts": seconds(rng.integers(0, span, n)),
            "f_float": np.round(rng.normal(size=n), 3),
            "f_int": rng.integers(-100, 100, n),
        }
    )
    frame.loc[rng.random(n) < 0.1, "f_float"] = np.nan  # stored nulls stay null
    # one row per (key, time) here: ties between feature rows are tested with created stamps
    return frame.drop_duplicates(["customer_id", "event_ts"], ignore_index=True)


def _null(value: object) -> object:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


def brute_force_pit(
    entity_rows: pd.DataFrame,
    entity_ts: str,
    rows: pd.DataFrame,
    keys: list[str],
    ts: str,
    features: list[str],
    ttl: pd.Timedelta | None = None,
    created: str | None = None,
) -> list[dict[str, object]]:
    """The definition, written out: the latest row at or before the entity row's time (newest
    created stamp among equal times), unless older than ttl."""
    out = []
    for _, e in entity_rows.iterrows():
        match = rows
        for k in keys:
            match = match[match[k] == e[k]]
        match = match[match[ts] <= e[entity_ts]]
        if match.empty:
            out.append(dict.fromkeys(features))
            continue
        order = [ts, created] if created else [ts]
        best = match.sort_values(order).iloc[-1]
        if ttl is not None and e[entity_ts] - best[ts] > ttl:
            out.append(dict.fromkeys(features))
            continue
        out.append({f: _null(best[f]) for f in features})
    return out


def brute_force_window(
    events: pd.DataFrame,
    key: str,
    ts: str,
    aggs: list[tuple[str, str, str | None, pd.Timedelta]],
    entity_rows: pd.DataFrame,
    entity_ts: str,
    ttl: pd.Timedelta | None = None,
) -> list[dict[str, object]]:
    """The definition, written out: per entity row at time t, each aggregate over the entity's
    events in [t - window, t] (count 0 and sum 0 when there are none, mean / min / max null);
    all null when the entity has no event at or before t, or its latest one is older than ttl."""
    out = []
    for _, e in entity_rows.iterrows():
        t = e[entity_ts]
        mine = events[(events[key] == e[key]) & (events[ts] <= t)]
        if mine.empty or (ttl is not None and t - mine[ts].max() > ttl):
            out.append({name: None for name, *_ in aggs})
            continue
        row: dict[str, object] = {}
        for name, function, column, window in aggs:
            inside = mine[mine[ts] >= t - window]
            if function == "count":
                row[name] = len(inside)
                continue
            values = inside[column].dropna()
            if function == "sum":
                row[name] = float(values.sum())
            elif values.empty:
                row[name] = None
            else:
                row[name] = {"mean": values.mean, "min": values.min, "max": values.max}[function]()
        out.append(row)
    return out


def assert_rows_equal(got: pd.DataFrame, expected: list[dict[str, object]]) -> None:
    assert len(got) == len(expected)
    for i, want in enumerate(expected):
        for name, value in want.items():
            actual = _null(got.iloc[i][name])
            if value is None:
                assert actual is None or pd.isna(actual), (i, name, actual)
            elif isinstance(value, float):
                assert actual is not None and abs(float(actual) - value) <= 1e-9 * max(
                    1.0, abs(value)
                ), (i, name, actual, value)
            else:
                assert actual == value, (i, name, actual, value)
