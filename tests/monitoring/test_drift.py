"""detect_drift: many features, the multiple-testing correction, dataset and prediction drift,
prediction-log windows, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats

from modelyard.errors import InvalidArgumentError
from modelyard.monitoring import adjust_p_values, build_profile, checks_of, detect_drift


def frames(seed: int = 0, n: int = 2000, m: int = 1500) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame(
        {
            "amount": rng.lognormal(3, 1, n),
            "age": rng.integers(18, 90, n),
            "score": rng.normal(size=n),
            "channel": rng.choice(["web", "pos", "app"], n, p=[0.5, 0.3, 0.2]),
            "is_new": rng.random(n) < 0.3,
        }
    )
    cur = pd.DataFrame(
        {
            "amount": rng.lognormal(3.3, 1, m),  # drifted
            "age": rng.integers(18, 90, m),
            "score": rng.normal(size=m),
            "channel": rng.choice(["web", "pos", "app"], m, p=[0.2, 0.3, 0.5]),  # drifted
            "is_new": rng.random(m) < 0.3,
        }
    )
    return ref, cur


def test_flags_the_drifted_features_and_matches_scipy() -> None:
    ref, cur = frames()
    profile = build_profile(ref)
    assert {f.name: f.kind for f in profile.features.values()} == {
        "amount": "numeric",
        "age": "numeric",
        "score": "numeric",
        "channel": "categorical",
        "is_new": "categorical",
    }
    report = detect_drift(profile, cur, correction="none")
    assert report.drifted_features == ["amount", "channel"]
    assert report.drift_share == pytest.approx(2 / 5) and not report.dataset_drift
    for name in ("amount", "age", "score"):
        expected = stats.ks_2samp(ref[name], cur[name])
        got = report.feature(name)
        assert (got.method, got.statistic) == ("ks", expected.statistic)
        assert got.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    observed = pd.crosstab(
        np.r_[np.zeros(len(ref)), np.ones(len(cur))], np.r_[ref.channel, cur.channel]
    )
    expected = stats.chi2_contingency(observed.to_numpy(), correction=False)
    assert report.feature("channel").p_value == pytest.approx(expected.pvalue, rel=1e-9)
    json.dumps(report.to_dict(), allow_nan=False)  # JSON-safe


def test_holm_and_bh_corrections_agree_with_a_hand_computation_and_scipy() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.005])
    # Holm by hand: sort, multiply by (m - rank), running max, cap at 1, unsort
    order = np.argsort(p)
    by_hand = np.empty(5)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (5 - rank) * p[i])
        by_hand[i] = min(running, 1.0)
    np.testing.assert_allclose(adjust_p_values(p, "holm"), by_hand)
    np.testing.assert_allclose(adjust_p_values(p, "bh"), stats.false_discovery_control(p))
    np.testing.assert_allclose(
        adjust_p_values(p, "by"), stats.false_discovery_control(p, method="by")
    )
    np.testing.assert_allclose(adjust_p_values(p, "bonferroni"), np.minimum(p * 5, 1))
    np.testing.assert_allclose(adjust_p_values(p, "none"), p)


def test_the_correction_is_applied_across_features() -> None:
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({f"f{i}": rng.normal(size=400) for i in range(20)})
    cur = pd.DataFrame({f"f{i}": rng.normal(0.12 if i < 2 else 0, size=400) for i in range(20)})
    plain = detect_drift(build_profile(ref), cur, correction="none")
    holm = detect_drift(build_profile(ref), cur, correction="holm")
    raw = np.array([f.p_value for f in plain.features])
    adjusted = adjust_p_values(raw, "holm")
    assert [f.p_value_adjusted for f in holm.features] == pytest.approx(list(adjusted))
    assert holm.drifted_features == [f.feature for f, a in zip(holm.features, adjusted) if a < 0.05]
    assert set(holm.drifted_features) <= set(plain.drifted_features)
    assert "holm" in holm.features[0].message


def test_dataset_drift_share() -> None:
    ref, cur = frames()
    profile = build_profile(ref)
    assert detect_drift(profile, cur, drift_share=0.4).dataset_drift  # 2 of 5 >= 0.4
    assert not detect_drift(profile, cur, drift_share=0.5).dataset_drift
    only = detect_drift(profile, cur, features=["amount", "channel"])
    assert only.drift_share == 1.0 and only.dataset_drift and len(only.features) == 2


def test_several_methods_per_kind() -> None:
    ref, cur = frames()
    report = detect_drift(
        build_profile(ref), cur, numeric=["ks", "psi", "wasserstein"], categorical=["chi2", "js"]
    )
    assert [c.method for c in report.feature("amount").checks] == ["ks", "psi", "wasserstein"]
    assert set(checks_of(report, "psi")) == {"amount", "age", "score"}
    assert set(checks_of(report, "js")) == {"channel", "is_new"}
    assert report.feature("score").drifted == any(c.drifted for c in report.feature("score").checks)


def test_a_prediction_log_window_and_prediction_drift() -> None:
    ref, cur = frames()
    rng = np.random.default_rng(2)
    profile = build_profile(ref, predictions=rng.beta(1, 9, len(ref)), prediction_column="proba")
    assert profile.predictions is not None and profile.predictions.kind == "numeric"
    log = pa.table(
        {
            "prediction_id": [str(i) for i in range(len(cur))],
            "prediction": np.zeros(len(cur)),
            "proba": rng.beta(2, 8, len(cur)),  # the model now scores higher
            **{f"input.{c}": pa.array(cur[c]) for c in cur.columns},
        }
    )
    report = detect_drift(profile, log)
    assert [f.feature for f in report.features] == list(ref.columns)
    assert {f.status for f in report.features} == {"ok"}
    assert report.prediction_drift is not None and report.prediction_drift.drifted
    assert report.prediction_drift.feature == "proba"
    explicit = detect_drift(profile, cur, predictions=rng.beta(1, 9, len(cur)))
    assert explicit.prediction_drift is not None and not explicit.prediction_drift.drifted
    assert detect_drift(
        build_profile(ref), cur, predictions=[0.1] * 50
    ).prediction_drift.status == (  # type: ignore[union-attr]
        "no_reference"
    )


def test_empty_window_and_missing_columns() -> None:
    ref, cur = frames()
    profile = build_profile(ref)
    empty = detect_drift(profile, cur.iloc[:0])
    assert empty.status == "not_enough_data" and not empty.dataset_drift
    assert {f.status for f in empty.features} == {"not_enough_data"}
    assert empty.drift_share == 0.0 and empty.drifted_features == []
    for nothing in (None, pa.table({"ts": pa.array([], pa.int64())})):  # EventLog.read: None
        report = detect_drift(profile, nothing)
        assert report.status == "not_enough_data" and report.n_current == 0
        assert {f.message for f in report.features} == {"not enough data: the window has no rows"}
    small = detect_drift(profile, cur.head(10))
    assert {f.status for f in small.features} == {"not_enough_data"}
    partial = detect_drift(profile, cur.drop(columns=["channel"]))
    assert partial.feature("channel").status == "missing_column"
    assert "no column 'channel'" in partial.feature("channel").message
    assert partial.n_tested == 4


def test_nan_columns_and_schema_changes_do_not_crash() -> None:
    ref, cur = frames()
    cur = cur.assign(score=np.nan, amount=cur.amount.astype(str), age=cur.age.astype("float"))
    cur.loc[::3, "age"] = np.nan
    report = detect_drift(build_profile(ref), cur)
    assert report.feature("score").status == "not_enough_data"
    assert report.feature("score").missing_current == 1.0
    assert report.feature("amount").status == "ok"  # numbers as strings are still numbers
    assert report.feature("age").missing_current == pytest.approx(1 / 3, abs=1e-3)


def test_datetime_features_are_profiled_but_only_tested_when_named() -> None:
    ref = pd.DataFrame({"ts": pd.date_range("2026-01-01", periods=200, freq="h"), "x": range(200)})
    cur = pd.DataFrame({"ts": pd.date_range("2026-03-01", periods=100, freq="h"), "x": range(100)})
    profile = build_profile(ref)
    assert profile.features["ts"].kind == "datetime"
    assert [f.feature for f in detect_drift(profile, cur).features] == ["x"]
    assert detect_drift(profile, cur, features=["ts"]).feature("ts").drifted


def test_bad_options_are_clear_errors() -> None:
    ref, cur = frames()
    profile = build_profile(ref)
    with pytest.raises(InvalidArgumentError, match="numeric features take ks, wasserstein"):
        detect_drift(profile, cur, numeric="chi2")
    with pytest.raises(InvalidArgumentError, match="did you mean 'holm'"):
        detect_drift(profile, cur, correction="hol")
    with pytest.raises(InvalidArgumentError, match="'amunt' is not in the reference profile"):
        detect_drift(profile, cur, features=["amunt"])
    with pytest.raises(InvalidArgumentError, match="alpha"):
        detect_drift(profile, cur, alpha=5)
    with pytest.raises(InvalidArgumentError, match="pandas DataFrame, a pyarrow Table"):
        detect_drift(profile, "window.parquet")
