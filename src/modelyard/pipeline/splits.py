"""Train / test splits and cross-validation folds.

A temporal split sorts rows by the timestamp and cuts at a time, not a row count: every row at
or after the cut is a test row, so no training row is later than (or as late as) any test row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from modelyard.errors import DataValidationError

__all__ = ["cv_folds", "split_rows", "temporal_cut"]


def split_rows(
    method: str,
    test_fraction: float,
    *,
    y: pd.Series,
    timestamps: pd.Series | None,
    seed: int,
    where: str = "split",
) -> tuple[np.ndarray, np.ndarray]:
    """(train positions, test positions) of the rows of ``y``."""
    n = len(y)
    positions = np.arange(n)
    if method == "temporal":
        if timestamps is None:
            raise DataValidationError(
                f"{where}.method temporal needs data.timestamp.", field=f"{where}.method"
            )
        return temporal_cut(timestamps, test_fraction, where=where)
    from sklearn.model_selection import train_test_split

    stratify = None
    if method == "stratified":
        counts = y.value_counts()
        if (counts < 2).any():
            rare = counts[counts < 2].index.tolist()
            raise DataValidationError(
                f"{where}.method stratified needs at least 2 rows of every class; class(es) "
                f"{rare} of data.target have 1. Use method: random.",
                field=f"{where}.method",
            )
        stratify = y.to_numpy()
    try:
        train, test = train_test_split(
            positions, test_size=test_fraction, random_state=seed, stratify=stratify
        )
    except ValueError as exc:
        raise DataValidationError(
            f"Cannot split {n} rows with {where}.test_fraction {test_fraction}: {exc}",
            field=f"{where}.test_fraction",
        ) from exc
    return np.sort(train), np.sort(test)


def temporal_cut(
    timestamps: pd.Series, test_fraction: float, *, where: str = "split"
) -> tuple[np.ndarray, np.ndarray]:
    """Rows before the cut train, rows at or after it test. The cut is the timestamp at the
    ``1 - test_fraction`` quantile of the rows, moved so both sides are non-empty."""
    ts = pd.to_datetime(timestamps)
    if ts.isna().any():
        raise DataValidationError(
            f"data.timestamp has {int(ts.isna().sum())} missing value(s); a temporal split needs "
            "every row's time (drop them in validation: nullable: false, on_violation: drop).",
            field="data.timestamp",
        )
    values = ts.to_numpy()
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    index = min(max(round(len(values) * (1 - test_fraction)), 1), len(values) - 1)
    cut = ordered[index]
    if cut == ordered[0]:  # many rows share the first time: move the cut to the next one
        later = ordered[ordered > cut]
        if not len(later):
            raise DataValidationError(
                "Every row has the same data.timestamp; a temporal split is impossible. Use "
                f"{where}.method random.",
                field=f"{where}.method",
            )
        cut = later[0]
    train = np.flatnonzero(values < cut)
    test = np.flatnonzero(values >= cut)
    return train, test


def cv_folds(
    method: str,
    folds: int,
    *,
    y: pd.Series,
    timestamps: pd.Series | None,
    seed: int,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(train positions, validation positions) per fold."""
    from sklearn.model_selection import KFold, StratifiedKFold, TimeSeriesSplit

    positions = np.arange(len(y))
    splitter: Any
    if method == "timeseries":
        if timestamps is not None:
            positions = np.argsort(pd.to_datetime(timestamps).to_numpy(), kind="stable")
        splitter = TimeSeriesSplit(n_splits=folds)
        for train, valid in splitter.split(positions):
            yield positions[train], positions[valid]
        return
    if method == "stratified":
        smallest = int(y.value_counts().min())
        if smallest < folds:
            raise DataValidationError(
                f"evaluate.cross_validation: stratified {folds}-fold needs at least {folds} rows "
                f"of every class in the training split; the rarest class has {smallest}. Lower "
                "folds or use kfold.",
                field="evaluate.cross_validation.folds",
            )
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        yield from splitter.split(positions, y.to_numpy())
        return
    splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
    yield from splitter.split(positions)
