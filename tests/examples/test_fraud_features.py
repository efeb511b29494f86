"""The fraud demo's feature definitions: applied, joined point-in-time onto labelled payments,
materialized and read online, with offline/online parity."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from modelyard.config import Settings
from modelyard.datasets import write_transactions
from modelyard.entities import LineageNode
from modelyard.features import FeatureStore
from modelyard.storage import Workspace
from modelyard.tracking import TrackingClient

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fraud" / "features.py"


def test_fraud_feature_views(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "features.py")
    tx_path = write_transactions(tmp_path / "data" / "transactions.parquet", n_rows=20_000, seed=3)
    ws = Workspace(Settings.resolve(home=str(tmp_path / "home")))
    fs = FeatureStore(ws)
    applied = fs.apply(tmp_path / "features.py")
    assert {a.name for a in applied} == {
        "customer",
        "merchant",
        "customer_spend",
        "merchant_risk",
        "fraud_features",
    }

    tx = pd.read_parquet(tx_path)
    labels = tx[["transaction_id", "customer_id", "merchant_id", "event_ts", "amount", "is_fraud"]]
    training = fs.get_training_set("fraud_features", labels)
    frame = training.frame
    assert len(frame) == len(labels) and training.timestamp_column == "event_ts"
    assert {name for name, _ in training.feature_views} == {"customer_spend", "merchant_risk"}
    # every payment counts itself: spend over the last hour includes its own amount
    assert (frame["tx_count_1h"] >= 1).all()
    assert np.allclose(frame["amount_sum_1h"] >= frame["amount"] - 1e-9, True)
    # labels arrive a day late: nothing is known about merchants on the first day
    first_day = frame["event_ts"] < tx["event_ts"].min() + pd.Timedelta(days=1)
    assert frame.loc[first_day, "fraud_rate_7d"].isna().all()
    assert frame.loc[~first_day, "fraud_rate_7d"].notna().mean() > 0.9
    # the feature the data generator plants (bursts of payments) carries signal
    fraud, legit = frame[frame["is_fraud"] == 1], frame[frame["is_fraud"] == 0]
    assert fraud["tx_count_1h"].mean() > legit["tx_count_1h"].mean()

    end = tx["event_ts"].max()
    done = fs.materialize(tx["event_ts"].min(), end + pd.Timedelta(days=1))
    assert {m.view for m in done} == {"customer_spend", "merchant_risk"}
    some = labels.drop_duplicates("customer_id").head(5)
    online = fs.get_online_features(
        "fraud_features",
        some[["customer_id", "merchant_id"]].to_dict("records"),
        now=end + pd.Timedelta(days=1),  # merchant labels up to end + 1 day are online
    )
    assert online.feature_names == training.feature_names
    assert all(s == "present" for row in online.statuses for s in row)
    assert fs.check_parity("fraud_features", sample=50).ok
    # lineage: the feature view versions -> the run that trained on them
    with TrackingClient(ws).start_run("fraud", "features") as active:
        fs.link_run(active.run_id, training)
    edges = ws.metadata.audit.get_lineage(LineageNode("run", active.run_id))
    assert {e.source.id for e in edges} == {"customer_spend/1", "merchant_risk/1"}
    ws.close()
