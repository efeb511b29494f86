"""Feature definitions for the fraud demo, over ``modelyard.datasets`` card transactions.

The transactions are expected in ``data/transactions.parquet`` next to this file (the demo writes
them there: ``modelyard.datasets.write_transactions("examples/fraud/data/transactions.parquet")``).

    modelyard features apply examples/fraud/features.py
    modelyard features materialize-incremental
    modelyard features get --service fraud_features -e customer_id=c000042 -e merchant_id=m00007

- ``customer_spend``: per customer, rolling spend and payment counts over 1 h / 24 h / 7 d
  (computed by DuckDB window functions offline; the current payment is included).
- ``merchant_risk``: per merchant, the fraud rate of its payments over the last 7 and 30 days.
  Fraud labels are known only a day after the payment (chargebacks), so the label time is
  ``event_ts + 1 day``: a training row never sees the label of its own payment.
"""

from pathlib import Path

from modelyard.features import Aggregation, Entity, FeatureService, FeatureView, Source

TRANSACTIONS = Path(__file__).resolve().parent / "data" / "transactions.parquet"

customer = Entity(name="customer", join_keys=["customer_id"], description="a card holder")
merchant = Entity(name="merchant", join_keys=["merchant_id"], description="a card acceptor")

customer_spend = FeatureView(
    name="customer_spend",
    entities=[customer],
    source=str(TRANSACTIONS),
    timestamp_field="event_ts",
    ttl="7d",
    aggregations=[
        Aggregation(function="sum", column="amount", window="1h"),
        Aggregation(function="sum", column="amount", window="24h"),
        Aggregation(function="sum", column="amount", window="7d"),
        Aggregation(function="count", window="1h", name="tx_count_1h"),
        Aggregation(function="count", window="24h", name="tx_count_24h"),
        Aggregation(function="count", window="7d", name="tx_count_7d"),
        Aggregation(function="mean", column="amount", window="7d"),
        Aggregation(function="max", column="amount", window="24h"),
    ],
    description="Rolling spend and payment counts per customer.",
)

merchant_risk = FeatureView(
    name="merchant_risk",
    entities=[merchant],
    source=Source(
        query=(
            "SELECT merchant_id, event_ts + INTERVAL 1 DAY AS label_ts, "
            f"CAST(is_fraud AS DOUBLE) AS fraud FROM read_parquet('{TRANSACTIONS}')"
        )
    ),
    timestamp_field="label_ts",
    ttl="30d",
    aggregations=[
        Aggregation(function="mean", column="fraud", window="7d", name="fraud_rate_7d"),
        Aggregation(function="mean", column="fraud", window="30d", name="fraud_rate_30d"),
        Aggregation(function="count", window="7d", name="labelled_tx_7d"),
    ],
    description="Fraud rate of each merchant's labelled payments (labels arrive a day later).",
)

fraud_features = FeatureService(
    name="fraud_features",
    features=[customer_spend, merchant_risk],
    description="What the fraud model reads, offline for training and online for scoring.",
)
