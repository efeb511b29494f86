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
