"""A small registered classifier and prediction-log rows in the model server's layout
(``modelyard.entities.predictions``), written with ``workspace.logs.append`` exactly as the
server writes them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from modelyard.entities.predictions import input_column
from modelyard.flavors import save_model
from modelyard.registry import RegistryClient
from modelyard.storage import Workspace

MODEL = "fraud"


def training_data(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    return X, pd.Series((X.x1 + X.x2 > 0).astype(int), name="y")


def register_classifier(
    workspace: Workspace,
    tmp: Path,
    *,
    name: str = MODEL,
    stage: str | None = "production",
    profile: bool = True,
) -> int:
    """A LogisticRegression on x1, x2 (classes 0 / 1), registered (with the training inputs as
    its reference profile unless ``profile=False``) and promoted."""
    from sklearn.linear_model import LogisticRegression

    X, y = training_data()
    directory = tmp / f"model-{uuid.uuid4().hex[:6]}"
    save_model(LogisticRegression().fit(X, y), directory, sample=X.head(20))
    version = RegistryClient(workspace).register_model(
        str(directory), name, promote_to=stage, reference=X if profile else None
    )
    return version.version


def log_predictions(
    workspace: Workspace,
    inputs: pd.DataFrame,
    predictions: Sequence[Any],
    *,
    proba: Sequence[float] | None = None,
    model: str = MODEL,
    version: int = 1,
    variant: str = "main",
    latency_ms: Sequence[float] | float = 2.0,
    status: Sequence[str] | str = "ok",
    ts: dt.datetime | None = None,
    ids: Sequence[str] | None = None,
) -> list[str]:
    """Append one prediction-log row per input row; returns the prediction ids."""
    n = len(inputs)
    ids = list(ids) if ids is not None else [f"p-{uuid.uuid4().hex[:12]}" for _ in range(n)]
    when = ts or dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    statuses = [status] * n if isinstance(status, str) else list(status)
    latency = [float(latency_ms)] * n if isinstance(latency_ms, (int, float)) else list(latency_ms)
    text = any(isinstance(p, str) for p in predictions)
    columns: dict[str, Any] = {
        "prediction_id": pa.array(ids, pa.string()),
        "ts": pa.array([when] * n, pa.timestamp("ms", tz="UTC")),
        "model": pa.array([model] * n, pa.string()),
        "version": pa.array([version] * n, pa.int64()),
        "variant": pa.array([variant] * n, pa.string()),
        "latency_ms": pa.array(latency, pa.float64()),
        "status": pa.array(statuses, pa.string()),
        "error": pa.array([None if s == "ok" else "ValueError" for s in statuses], pa.string()),
        "prediction": pa.array(
            [None if s != "ok" else p for p, s in zip(predictions, statuses)],
            pa.string() if text else pa.float64(),
        ),
        "proba": pa.array(list(proba) if proba is not None else [None] * n, pa.float64()),
    }
    for name in inputs.columns:
        columns[input_column(str(name))] = pa.array(inputs[name].to_numpy())
    workspace.logs.append("predictions", pa.table(columns), partition={"model": model})
    return ids


def score_and_log(
    workspace: Workspace,
    X: pd.DataFrame,
    *,
    version: int = 1,
    variant: str = "main",
    model: str = MODEL,
    **kwargs: Any,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Predict with the registered version (as the server would) and log the rows."""
    loaded = RegistryClient(workspace).load_model(f"models:/{model}/{version}")
    labels = loaded.predict(X)
    proba = loaded.predict_proba(X)[:, 1]
    ids = log_predictions(
        workspace,
        X,
        labels.astype(float),
        proba=proba,
        version=version,
        variant=variant,
        model=model,
        **kwargs,
    )
    return ids, labels, proba
