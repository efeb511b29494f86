"""Small specs and data for the pipeline tests (fast: a few thousand rows, few trees)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from modelyard.datasets import write_transactions

BASE: dict[str, Any] = {
    "name": "fraud",
    "data": {
        "source": "data/tx.parquet",
        "target": "is_fraud",
        "timestamp": "event_ts",
        "drop": ["transaction_id", "customer_id", "merchant_id"],
    },
    "validation": {
        "schema": {"amount": {"type": "float", "min": 0}, "channel": {"type": "category"}},
        "quality": {"max_missing_fraction": 0.05},
        "outliers": {"method": "iqr", "threshold": 3.0, "action": "flag"},
    },
    "split": {"method": "temporal", "test_fraction": 0.25},
    "transform": {
        "numeric": {"impute": "median", "scale": "standard"},
        "categorical": {"impute": "most_frequent", "encode": "onehot"},
    },
    "train": {
        "model": "lightgbm",
        "params": {"n_estimators": 40, "learning_rate": 0.1, "num_leaves": 15},
        "class_weight": "balanced",
    },
    "evaluate": {"metrics": ["roc_auc", "average_precision", "f1", "accuracy"]},
    "register": {
        "model": "fraud-detector",
        "gate": {"metric": "roc_auc", "min": 0.6, "must_beat": "production"},
        "promote_to": "production",
    },
}


def spec(**sections: Any) -> dict[str, Any]:
    """BASE with sections replaced (None removes one)."""
    out = copy.deepcopy(BASE)
    for key, value in sections.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def write_data(base: Path, rows: int = 4000, seed: int = 1, **kwargs: Any) -> Path:
    return write_transactions(
        base / "data" / "tx.parquet", n_rows=rows, n_customers=300, days=20, seed=seed, **kwargs
    )


FRAUD_FEATURES = Path(__file__).resolve().parents[2] / "examples" / "fraud" / "features.py"
LABEL_COLUMNS = ["transaction_id", "customer_id", "merchant_id", "event_ts", "amount", "channel"]


def feature_spec(**data: Any) -> dict[str, Any]:
    """A small spec training on the fraud feature service plus labelled payments."""
    out = spec(validation=None)
    out["data"] = {
        "features": "fraud_features",
        "entities": "data/labels.parquet",
        "target": "is_fraud",
        "timestamp": "event_ts",
        "drop": ["transaction_id", "customer_id", "merchant_id"],
        **data,
    }
    out["register"]["promote_to"] = "staging"
    return out


def write_feature_project(base: Path, rows: int = 3000, seed: int = 1) -> Path:
    """examples/fraud/features.py beside generated transactions (data/transactions.parquet,
    the feature views' source) and the labelled entity rows (data/labels.parquet)."""
    import shutil

    import pandas as pd

    shutil.copy(FRAUD_FEATURES, base / "features.py")
    tx = write_transactions(
        base / "data" / "transactions.parquet", n_rows=rows, n_customers=200, days=20, seed=seed
    )
    write_labels(base, pd.read_parquet(tx))
    return base / "features.py"


def write_labels(base: Path, transactions: Any) -> Path:
    path = base / "data" / "labels.parquet"
    transactions[[*LABEL_COLUMNS, "is_fraud"]].to_parquet(path, index=False)
    return path
