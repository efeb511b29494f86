from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from modelyard.datasets import DriftSpec, make_transactions, write_transactions
from modelyard.errors import InvalidArgumentError


def test_shape_types_and_determinism() -> None:
    a = make_transactions(5_000, n_customers=300, days=10, seed=3)
    b = make_transactions(5_000, n_customers=300, days=10, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(make_transactions(5_000, n_customers=300, days=10, seed=4))
    assert list(a.columns) == [
        "transaction_id",
        "event_ts",
        "customer_id",
        "merchant_id",
        "amount",
        "merchant_category",
        "channel",
        "country",
        "device",
        "hour",
        "is_fraud",
    ]
    assert a.event_ts.is_monotonic_increasing
    assert a.event_ts.min() >= pd.Timestamp("2026-01-01")
    assert a.event_ts.max() < pd.Timestamp("2026-01-11")
    assert 0.005 < a.is_fraud.mean() < 0.03
    assert a.transaction_id.is_unique and (a.amount > 0).all()


def test_fraud_depends_on_recent_history() -> None:
    f = make_transactions(40_000, n_customers=500, days=15, seed=1).sort_values(
        ["customer_id", "event_ts"]
    )
    prev = f.groupby("customer_id").event_ts.shift()
    burst = (f.event_ts - prev) < pd.Timedelta("1h")
    assert f[burst].is_fraud.mean() > 2 * f[~burst].is_fraud.mean()


def test_drift_changes_amounts_categories_and_pattern() -> None:
    base = make_transactions(20_000, days=20, seed=2)
    drifted = make_transactions(20_000, days=20, seed=2, drift_from="2026-01-11")
    before = drifted.event_ts < pd.Timestamp("2026-01-11")
    pd.testing.assert_frame_equal(
        base[before.to_numpy()].drop(columns="is_fraud"),
        drifted[before.to_numpy()].drop(columns="is_fraud"),
    )
    after = ~before
    assert drifted[after].amount.median() > 1.3 * base[after.to_numpy()].amount.median()
    assert {"crypto", "gaming_credits"} <= set(drifted[after].merchant_category)
    assert not {"crypto", "gaming_credits"} & set(drifted[before].merchant_category)
    fraud_after = drifted[after]
    assert (
        fraud_after[fraud_after.channel != "online"].is_fraud.mean()
        > fraud_after[fraud_after.channel == "online"].is_fraud.mean()
    )
    only_amounts = make_transactions(
        20_000,
        days=20,
        seed=2,
        drift_from="2026-01-11",
        drift=DriftSpec(new_categories=False, fraud_pattern=False),
    )
    assert not {"crypto"} & set(only_amounts.merchant_category)


def test_write(tmp_path: Path) -> None:
    p = write_transactions(tmp_path / "t.parquet", n_rows=500, seed=1)
    c = write_transactions(tmp_path / "t.csv", n_rows=500, seed=1)
    assert len(pd.read_parquet(p)) == 500 and len(pd.read_csv(c)) == 500
    with pytest.raises(InvalidArgumentError, match="n_rows"):
        make_transactions(0)
    with pytest.raises(InvalidArgumentError, match="fraud_rate"):
        make_transactions(10, fraud_rate=0.9)
