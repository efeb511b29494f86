"""Splits: temporal never trains on a row from after the cut; folds behave."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.errors import DataValidationError
from modelyard.pipeline.splits import cv_folds, split_rows


@settings(max_examples=60, deadline=None)
@given(
    hours=st.lists(st.integers(0, 50), min_size=2, max_size=300),
    fraction=st.floats(0.05, 0.95),
)
def test_temporal_split_keeps_every_training_row_before_every_test_row(
    hours: list[int], fraction: float
) -> None:
    ts = pd.Series(pd.Timestamp("2026-01-01") + pd.to_timedelta(hours, unit="h"))
    y = pd.Series(np.arange(len(hours)) % 2)
    if ts.nunique() == 1:
        with pytest.raises(DataValidationError, match="same data.timestamp"):
            split_rows("temporal", fraction, y=y, timestamps=ts, seed=0)
        return
    train, test = split_rows("temporal", fraction, y=y, timestamps=ts, seed=0)
    assert len(train) and len(test)
    assert sorted([*train, *test]) == list(range(len(hours)))
    assert ts.iloc[train].max() < ts.iloc[test].min()  # strictly: ties at the cut go to test


def test_temporal_split_of_shuffled_rows() -> None:
    rng = np.random.default_rng(3)
    ts = pd.Series(
        pd.to_datetime("2026-01-01") + pd.to_timedelta(rng.permutation(1000), unit="min")
    )
    y = pd.Series(rng.integers(0, 2, 1000))
    train, test = split_rows("temporal", 0.2, y=y, timestamps=ts, seed=0)
    assert len(test) == 200 and ts.iloc[train].max() < ts.iloc[test].min()


def test_missing_timestamps_are_refused() -> None:
    ts = pd.Series(pd.to_datetime(["2026-01-01", None, "2026-01-03"]))
    with pytest.raises(DataValidationError, match="missing value"):
        split_rows("temporal", 0.3, y=pd.Series([0, 1, 0]), timestamps=ts, seed=0)


def test_stratified_split_keeps_the_class_balance() -> None:
    y = pd.Series([1] * 20 + [0] * 980)
    train, test = split_rows("stratified", 0.25, y=y, timestamps=None, seed=1)
    assert y.iloc[test].sum() == 5 and y.iloc[train].sum() == 15
    with pytest.raises(DataValidationError, match="at least 2 rows of every class"):
        split_rows("stratified", 0.25, y=pd.Series([1] + [0] * 50), timestamps=None, seed=1)


def test_timeseries_folds_validate_on_later_rows() -> None:
    rng = np.random.default_rng(0)
    ts = pd.Series(pd.to_datetime("2026-01-01") + pd.to_timedelta(rng.permutation(500), unit="h"))
    y = pd.Series(rng.integers(0, 2, 500))
    folds = list(cv_folds("timeseries", 4, y=y, timestamps=ts, seed=0))
    assert len(folds) == 4
    for train, valid in folds:
        assert ts.iloc[train].max() < ts.iloc[valid].min()


def test_stratified_folds_need_enough_of_each_class() -> None:
    y = pd.Series([1, 1] + [0] * 40)
    with pytest.raises(DataValidationError, match="rarest class has 2"):
        list(cv_folds("stratified", 5, y=y, timestamps=None, seed=0))
