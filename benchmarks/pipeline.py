"""Pipeline benchmark: the train step against a hand-written LightGBM fit, and a cached re-run.

    .venv/bin/python benchmarks/pipeline.py [--rows 100000] [--repeat 3]

Workload (issue 3, item 15): synthetic card transactions (modelyard.datasets), the fraud spec
(temporal split, impute/scale/one-hot, LightGBM with 200 trees, class weights).
- train step: the pipeline's ``train`` step (transform the training rows, fit, save the model
  as one scikit-learn Pipeline, log it to the run), recomputed with the cache off, against the
  same work written by hand on the same rows: ``preprocessor.transform`` + ``LGBMClassifier.fit``
  with the same parameters and sample weights. Target: overhead <= 10 % + 1 s.
- fully cached re-run: ``modelyard.pipeline.run(spec)`` when every step is in the cache (the
  data is still read and fingerprinted, the run is recorded, the gate and registry checked).
  Target: <= 1 s.
Medians of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

SPEC: dict[str, Any] = {
    "name": "fraud-bench",
    "data": {
        "source": "tx.parquet",
        "target": "is_fraud",
        "timestamp": "event_ts",
        "drop": ["transaction_id", "customer_id", "merchant_id"],
    },
    "validation": {
        "schema": {
            "amount": {"type": "float", "min": 0},
            "merchant_category": {"type": "category"},
        },
        "quality": {"max_missing_fraction": 0.05, "max_duplicate_fraction": 0.01},
        "outliers": {"method": "iqr", "threshold": 3.0, "action": "flag"},
    },
    "split": {"method": "temporal", "test_fraction": 0.2},
    "transform": {
        "numeric": {"impute": "median", "scale": "standard"},
        "categorical": {"impute": "most_frequent", "encode": "onehot"},
    },
    "train": {
        "model": "lightgbm",
        "params": {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 31},
        "class_weight": "balanced",
    },
    "evaluate": {"metrics": ["roc_auc", "average_precision", "f1"]},
    "register": {
        "model": "fraud-bench",
        "gate": {"metric": "roc_auc", "min": 0.7, "must_beat": "production"},
        "promote_to": "production",
    },
}


def by_hand(workdir: Path, ws: Any, repeat: int) -> list[float]:
    """The same transform + fit on the same training rows, without the pipeline."""
    import lightgbm as lgb
    import pandas as pd

    from modelyard.pipeline import load_spec
    from modelyard.pipeline.estimators import sample_weight
    from modelyard.pipeline.splits import split_rows
    from modelyard.pipeline.transform import apply_features, build_preprocessor, plan_columns

    spec = load_spec(SPEC, base_dir=workdir).spec
    frame = pd.read_parquet(workdir / "tx.parquet")
    y = frame["is_fraud"]
    X = frame.drop(columns=["is_fraud", *spec.data.drop])
    train, _ = split_rows("temporal", 0.2, y=y, timestamps=frame["event_ts"], seed=0)
    X_train, y_train = X.iloc[train], y.iloc[train]
    plan = plan_columns(spec.transform, apply_features(spec.transform, X_train))
    pre = build_preprocessor(spec.transform, plan).fit(X_train, y_train)
    weights = sample_weight("balanced", y_train)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        features = pre.transform(X_train)
        lgb.LGBMClassifier(
            n_estimators=200, learning_rate=0.05, num_leaves=31, random_state=0, verbose=-1
        ).fit(features, y_train, sample_weight=weights)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from modelyard.config import Settings
    from modelyard.datasets import write_transactions
    from modelyard.pipeline import run
    from modelyard.storage import Workspace

    with tempfile.TemporaryDirectory(prefix="modelyard-bench-") as tmp:
        workdir = Path(tmp)
        write_transactions(workdir / "tx.parquet", n_rows=args.rows, seed=11)
        ws = Workspace(Settings.resolve(home=str(workdir / "home")))
        first = run(SPEC, workspace=ws, base_dir=str(workdir))
        print(
            f"{args.rows:,} rows; first run {first.seconds:.2f} s; test roc_auc "
            f"{first.metrics['roc_auc']:.4f}; {first.steps['register'].summary}"
        )

        train_steps = []
        for _ in range(args.repeat):
            result = run(SPEC, workspace=ws, base_dir=str(workdir), use_cache=False)
            train_steps.append(result.steps["train"].seconds)
        hand = by_hand(workdir, ws, args.repeat)

        cached = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = run(SPEC, workspace=ws, base_dir=str(workdir))
            cached.append(time.perf_counter() - start)
            assert set(result.cached_steps) == {
                "validate",
                "split",
                "transform",
                "train",
                "evaluate",
            }

    step, manual = statistics.median(train_steps), statistics.median(hand)
    overhead = step - manual
    allowed = 0.10 * manual + 1.0
    rerun = statistics.median(cached)
    rows = [
        (
            "train step (transform + fit + save + log)",
            f"{step:.2f} s",
            f"hand-written {manual:.2f} s; overhead {overhead:+.2f} s ({step / manual:.2f}x)",
            f"overhead <= {allowed:.2f} s (10 % + 1 s)",
            "PASS" if overhead <= allowed else "MISS",
        ),
        (
            "fully cached re-run (whole pipeline)",
            f"{rerun:.3f} s",
            f"first run {first.seconds:.2f} s",
            "<= 1 s",
            "PASS" if rerun <= 1.0 else "MISS",
        ),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    header = ("work", "measured (median)", "beside", "target", "result")
    widths = [max(w, len(h)) for w, h in zip(widths, header)]
    for row in (header, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))


if __name__ == "__main__":
    main()
