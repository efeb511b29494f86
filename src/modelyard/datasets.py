"""Synthetic card transactions for demos and tests: realistic enough to be worth modelling.

    from modelyard.datasets import make_transactions
    frame = make_transactions(50_000, days=30, seed=7)
    drifted = make_transactions(50_000, days=30, seed=7, drift_from="2026-01-20")

Each row is one card payment: who (``customer_id``), where (``merchant_id``,
``merchant_category``, ``country``), how (``channel``, ``device``), how much (``amount``) and when
(``event_ts``). ``is_fraud`` (about 1-2 %) depends on the payment itself (large amounts for the
customer, risky categories, foreign country, online at night) and on the customer's recent
history (a burst of payments within the last hour, a total well above their usual spend), so
per-customer rolling features really help a model.

Drift (from ``drift_from`` on): amounts shift up, new merchant categories appear, and the fraud
pattern changes (fraud moves to card-present payments in new categories), so a model trained
before the date decays after it. Output is deterministic for a given seed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from modelyard.errors import InvalidArgumentError

__all__ = ["DriftSpec", "make_transactions", "write_transactions"]

CATEGORIES = {
    # category: (weight, mean amount, fraud risk)
    "grocery": (0.24, 45.0, 0.2),
    "restaurants": (0.16, 38.0, 0.3),
    "fuel": (0.10, 55.0, 0.4),
    "retail": (0.14, 80.0, 0.6),
    "travel": (0.06, 420.0, 1.2),
    "electronics": (0.07, 310.0, 1.6),
    "entertainment": (0.08, 60.0, 0.7),
    "health": (0.06, 90.0, 0.2),
    "jewelry": (0.03, 520.0, 2.0),
    "gift_cards": (0.06, 110.0, 2.2),
}
DRIFT_CATEGORIES = {"crypto": (0.08, 640.0, 2.6), "gaming_credits": (0.07, 75.0, 2.0)}
COUNTRIES = ["US", "GB", "DE", "FR", "ES", "NL", "BR", "IN", "NG", "RU"]
CHANNELS = ["pos", "online", "atm"]
DEVICES = {"pos": "terminal", "atm": "terminal", "online": None}


@dataclass(frozen=True, slots=True)
class DriftSpec:
    """What changes from ``drift_from`` on (each part can be switched off)."""

    amount_shift: float = 1.6
    new_categories: bool = True
    fraud_pattern: bool = True


def _check(n_rows: int, n_customers: int, n_merchants: int, days: int, fraud_rate: float) -> None:
    for name, value in (
        ("n_rows", n_rows),
        ("n_customers", n_customers),
        ("n_merchants", n_merchants),
        ("days", days),
    ):
        if value < 1:
            raise InvalidArgumentError(f"{name} must be >= 1, got {value}.", field=name)
    if not 0 < fraud_rate < 0.5:
        raise InvalidArgumentError(
            f"fraud_rate must be in (0, 0.5), got {fraud_rate}.", field="fraud_rate"
        )


def make_transactions(
    n_rows: int = 100_000,
    *,
    n_customers: int = 2_000,
    n_merchants: int = 400,
    days: int = 30,
    start: str = "2026-01-01",
    seed: int = 0,
    fraud_rate: float = 0.015,
    drift_from: str | None = None,
    drift: DriftSpec | None = None,
) -> pd.DataFrame:
    """Generate ``n_rows`` transactions over ``days`` days, sorted by ``event_ts``."""
    _check(n_rows, n_customers, n_merchants, days, fraud_rate)
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start)
    drift = drift or DriftSpec()

    # Customers: a home country, a spending scale, an activity level, an online preference.
    home = rng.choice(len(COUNTRIES), n_customers, p=_weights(len(COUNTRIES), 3.0, rng))
    scale = rng.lognormal(0.0, 0.5, n_customers)
    activity = rng.gamma(2.0, 1.0, n_customers)
    online_pref = rng.beta(2, 5, n_customers)

    # Merchants: a category each, a country, a risk of their own.
    cat_names = list(CATEGORIES)
    cat_weights = np.array([CATEGORIES[c][0] for c in cat_names])
    m_cat = rng.choice(len(cat_names), n_merchants, p=cat_weights / cat_weights.sum())
    m_country = rng.choice(len(COUNTRIES), n_merchants, p=_weights(len(COUNTRIES), 2.0, rng))
    m_risk = rng.gamma(1.5, 0.4, n_merchants)

    # Rows: who pays, when (diurnal pattern), where.
    cust = rng.choice(n_customers, n_rows, p=activity / activity.sum())
    day = rng.integers(0, days, n_rows)
    hour_p = np.array(
        [
            1,
            0.6,
            0.4,
            0.3,
            0.3,
            0.5,
            1,
            2,
            3,
            3.5,
            4,
            4.5,
            5,
            4.5,
            4,
            4,
            4.5,
            5,
            5.5,
            5,
            4,
            3,
            2.2,
            1.5,
        ]
    )
    hour = rng.choice(24, n_rows, p=hour_p / hour_p.sum())
    seconds = rng.integers(0, 3600, n_rows)
    ts = t0 + pd.to_timedelta(day * 86_400 + hour * 3600 + seconds, unit="s")
    merchant = rng.integers(0, n_merchants, n_rows)
    category = np.array(cat_names, dtype=object)[m_cat[merchant]]
    channel = np.where(
        rng.random(n_rows) < online_pref[cust],
        "online",
        np.where(rng.random(n_rows) < 0.06, "atm", "pos"),
    ).astype(object)
    travelling = rng.random(n_rows) < 0.04
    country_idx = np.where(
        travelling | (channel == "online") & (rng.random(n_rows) < 0.3),
        m_country[merchant],
        home[cust],
    )
    country = np.array(COUNTRIES, dtype=object)[country_idx]
    device = np.where(
        channel == "online", np.where(rng.random(n_rows) < 0.62, "mobile", "desktop"), "terminal"
    ).astype(object)
    mean_amount = np.array([CATEGORIES[c][1] for c in cat_names])[m_cat[merchant]]
    amount = rng.lognormal(np.log(mean_amount * scale[cust]), 0.6)

    after = np.zeros(n_rows, dtype=bool)
    if drift_from is not None:
        after = np.asarray(ts >= pd.Timestamp(drift_from))
        amount = np.where(after, amount * drift.amount_shift, amount)
        if drift.new_categories:
            new_names = list(DRIFT_CATEGORIES)
            swap = after & (rng.random(n_rows) < sum(v[0] for v in DRIFT_CATEGORIES.values()))
            category = np.where(swap, rng.choice(new_names, n_rows), category)
            new_mean = np.array([DRIFT_CATEGORIES.get(c, (0, 0, 0))[1] for c in category])
            amount = np.where(
                swap, rng.lognormal(np.log(np.maximum(new_mean, 1) * scale[cust]), 0.6), amount
            )

    frame = pd.DataFrame(
        {
            "event_ts": ts.astype("datetime64[us]"),
            "customer_id": [f"c{c:06d}" for c in cust],
            "merchant_id": [f"m{m:05d}" for m in merchant],
            "amount": np.round(amount, 2),
            "merchant_category": category,
            "channel": channel,
            "country": country,
            "device": device,
            "hour": hour.astype(np.int64),
            "_foreign": country_idx != home[cust],
            "_m_risk": m_risk[merchant],
            "_scale": scale[cust],
            "_after": after,
        }
    ).sort_values("event_ts", kind="stable", ignore_index=True)

    frame.insert(0, "transaction_id", [f"t{i:08d}" for i in range(n_rows)])
    frame["is_fraud"] = _label(
        frame, rng, fraud_rate, drift.fraud_pattern and drift_from is not None
    )
    frame = frame.drop(columns=["_foreign", "_m_risk", "_scale", "_after"])
    for col in ("merchant_category", "channel", "country", "device"):
        frame[col] = frame[col].astype("string")
    frame["transaction_id"] = frame["transaction_id"].astype("string")
    frame["customer_id"] = frame["customer_id"].astype("string")
    frame["merchant_id"] = frame["merchant_id"].astype("string")
    return frame


def _weights(n: int, concentration: float, rng: np.random.Generator) -> np.ndarray:
    w = rng.dirichlet(np.ones(n) * concentration)
    w[0] += 1.0  # one dominant home market
    return np.asarray(w / w.sum())


def _recent_history(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per row: payments by the same customer in the previous hour, and the amount relative to
    the customer's mean of earlier payments (1.0 when there is no history). Vectorised: rows
    sorted by (customer, time) make each customer's history a contiguous range."""
    cust = pd.factorize(frame["customer_id"])[0].astype(np.int64)
    secs = frame["event_ts"].to_numpy().astype("datetime64[s]").astype(np.int64)
    order = np.lexsort((secs, cust))
    key = cust[order] * 10**11 + secs[order]
    idx = np.arange(len(order))
    burst_sorted = idx - np.searchsorted(key, key - 3600, side="left")
    amounts = frame["amount"].to_numpy()[order]
    first = np.r_[True, cust[order][1:] != cust[order][:-1]]
    group_start = np.maximum.accumulate(np.where(first, idx, 0))
    csum = np.cumsum(amounts)
    prior_sum = csum - amounts - np.where(group_start > 0, csum[group_start - 1], 0.0)
    prior_n = idx - group_start
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio_sorted = np.where(
            prior_n > 0, amounts / np.maximum(prior_sum / np.maximum(prior_n, 1), 1.0), 1.0
        )
    burst = np.empty(len(order), dtype=float)
    ratio = np.empty(len(order), dtype=float)
    burst[order] = burst_sorted
    ratio[order] = ratio_sorted
    return burst, ratio


def _label(
    frame: pd.DataFrame, rng: np.random.Generator, rate: float, pattern_drift: bool
) -> np.ndarray:
    burst, ratio = _recent_history(frame)
    cat_risk = (
        frame["merchant_category"]
        .map(
            {
                **{k: v[2] for k, v in CATEGORIES.items()},
                **{k: v[2] for k, v in DRIFT_CATEGORIES.items()},
            }
        )
        .to_numpy(dtype=float)
    )
    night = frame["hour"].isin([0, 1, 2, 3, 4, 5]).to_numpy()
    online = (frame["channel"] == "online").to_numpy()
    foreign = frame["_foreign"].to_numpy()
    score = (
        1.3 * np.log1p(np.maximum(ratio - 1.0, 0.0))
        + 0.9 * np.minimum(burst, 4)
        + 0.8 * cat_risk
        + 1.1 * foreign
        + 0.9 * (online & night)
        + 0.5 * online
        + 0.6 * frame["_m_risk"].to_numpy()
        + rng.normal(0.0, 0.9, len(frame))
    )
    if pattern_drift:
        after = frame["_after"].to_numpy()
        card_present = (frame["channel"] != "online").to_numpy()
        new_cat = frame["merchant_category"].isin(list(DRIFT_CATEGORIES)).to_numpy()
        shifted = (
            1.6 * card_present
            + 2.2 * new_cat
            + 0.6 * cat_risk
            + 0.3 * np.minimum(burst, 4)
            - 0.8 * foreign
            + rng.normal(0.0, 0.9, len(frame))
        )
        score = np.where(after, shifted, score)
    threshold = np.quantile(score, 1.0 - rate)
    return np.asarray(score > threshold, dtype=np.int64)


def write_transactions(
    path: str | os.PathLike[str],
    fmt: Literal["parquet", "csv"] | None = None,
    **kwargs: object,
) -> Path:
    """Generate transactions (``make_transactions(**kwargs)``) and write them to ``path``."""
    target = Path(path)
    fmt = fmt or ("csv" if target.suffix == ".csv" else "parquet")
    if fmt not in ("parquet", "csv"):
        raise InvalidArgumentError(f"fmt must be 'parquet' or 'csv', got {fmt!r}.", field="fmt")
    frame = make_transactions(**kwargs)  # type: ignore[arg-type]
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        frame.to_csv(target, index=False)
    else:
        frame.to_parquet(target, index=False)
    return target
