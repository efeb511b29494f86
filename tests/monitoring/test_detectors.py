"""Each detector against scipy (or the direct formula) on the same data, including ties, NaN,
constant columns, unseen categories and too little data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon

from modelyard.errors import InvalidArgumentError, NotFoundError
from modelyard.monitoring import (
    SKETCH_SIZE,
    ChiSquaredDetector,
    JensenShannonDetector,
    KSDetector,
    PSIDetector,
    WassersteinDetector,
)
from modelyard.monitoring.profile import profile_column

pytestmark = pytest.mark.filterwarnings("ignore:ks_2samp:RuntimeWarning")  # scipy's own

# small samples with many ties (values drawn from a few levels) or continuous ones
values = st.one_of(
    st.lists(st.integers(-3, 3).map(float), min_size=1, max_size=60),
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=60),
)


@settings(max_examples=150, deadline=None)
@given(values, values)
def test_ks_equals_scipy(ref: list[float], cur: list[float]) -> None:
    result = KSDetector(min_rows=1).fit(np.array(ref)).score(np.array(cur))
    expected = stats.ks_2samp(ref, cur)
    assert result.statistic == expected.statistic
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-12, abs=1e-300)
    assert result.drifted == (expected.pvalue < 0.05)
    assert (result.n_reference, result.n_current) == (len(ref), len(cur))


@pytest.mark.parametrize(("n", "m", "shift"), [(3000, 20_000, 0.02), (12_000, 15_000, 0.0)])
def test_ks_asymptotic_p_value_equals_scipy(n: int, m: int, shift: float) -> None:
    rng = np.random.default_rng(n)
    ref, cur = rng.normal(size=n).round(2), rng.normal(shift, size=m).round(2)  # ties
    result = KSDetector().fit(ref).score(cur)
    expected = stats.ks_2samp(ref, cur)
    assert result.statistic == expected.statistic
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_ks_from_a_sketch_of_a_large_reference_is_within_one_over_k() -> None:
    rng = np.random.default_rng(7)
    ref = rng.lognormal(size=SKETCH_SIZE * 6)
    profile = profile_column("x", ref)  # more distinct values than K: a quantile sketch
    assert not profile.sketch_exact and len(profile.sketch_values) <= SKETCH_SIZE + 1
    for shift in (0.0, 0.01, 0.1):
        cur = rng.lognormal(shift, size=40_000)
        result = KSDetector().fit(profile).score(cur)
        expected = stats.ks_2samp(ref, cur)
        assert result.statistic is not None
        assert abs(result.statistic - expected.statistic) <= 1 / SKETCH_SIZE
        assert result.n_reference == len(ref)  # the p-value uses the true count
        assert result.drifted == (expected.pvalue < 0.05)
        w = WassersteinDetector(normalize=False).fit(profile).score(cur).statistic
        assert w is not None
        bound = (ref.max() - ref.min()) / SKETCH_SIZE
        assert abs(w - stats.wasserstein_distance(ref, cur)) <= bound


def test_many_ties_stay_exact_at_any_size() -> None:
    rng = np.random.default_rng(3)
    ref = rng.integers(0, 24, size=50_000).astype(float)  # hour of day: 24 distinct values
    cur = rng.integers(0, 23, size=30_000).astype(float)
    profile = profile_column("hour", ref)
    assert profile.sketch_exact and len(profile.sketch_values) == 24
    result = KSDetector().fit(profile).score(cur)
    expected = stats.ks_2samp(ref, cur)
    assert result.statistic == expected.statistic
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)


@settings(max_examples=100, deadline=None)
@given(values, values)
def test_wasserstein_equals_scipy(ref: list[float], cur: list[float]) -> None:
    raw = WassersteinDetector(normalize=False, min_rows=1).fit(np.array(ref)).score(cur)
    expected = stats.wasserstein_distance(ref, cur)
    assert raw.statistic == pytest.approx(expected, rel=1e-9, abs=1e-9)
    normed = WassersteinDetector(min_rows=1).fit(np.array(ref)).score(cur)
    std = np.std(ref)
    scale = std if std > 0 else (abs(np.mean(ref)) or 1.0)
    assert normed.statistic == pytest.approx(expected / scale, rel=1e-9, abs=1e-9)
    assert normed.drifted == (expected / scale > 0.1)


def direct_psi(ref: np.ndarray, cur: np.ndarray, edges: np.ndarray, eps: float = 1e-4) -> float:
    """PSI by the textbook formula on bins (-inf, e1], (e1, e2], ..., (ek, inf)."""
    p = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=len(edges) + 1) / len(ref)
    q = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=len(edges) + 1) / len(cur)
    p, q = np.where(p == 0, eps, p), np.where(q == 0, eps, q)
    return float(np.sum((q - p) * np.log(q / p)))


@pytest.mark.parametrize("seed", range(5))
def test_psi_numeric_equals_the_direct_formula_on_the_reference_deciles(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = rng.gamma(2.0, size=5000).round(1)  # ties on the edges
    cur = rng.gamma(2.0 + seed * 0.2, size=3000).round(1)
    detector = PSIDetector().fit(ref)
    edges = detector.reference.bin_edges
    np.testing.assert_allclose(
        edges, np.quantile(ref, np.arange(1, 10) / 10, method="inverted_cdf")
    )  # ties can merge two deciles into one edge; with these data they do not
    result = detector.score(cur)
    assert result.statistic == pytest.approx(direct_psi(ref, cur, edges), rel=1e-12)
    assert result.drifted == (result.statistic > 0.2)


cats = st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, max_size=80)


def table(ref: list[str], cur: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Reference categories (most frequent first), then the unseen bucket."""
    order = pd.Series(ref).value_counts()
    keys = sorted(order.index, key=lambda k: (-order[k], k))
    p = np.array([ref.count(k) for k in keys] + [0])
    q = np.array([cur.count(k) for k in keys] + [sum(c not in keys for c in cur)])
    return keys, p, q


@settings(max_examples=100, deadline=None)
@given(cats, cats)
def test_chi2_equals_scipy_contingency(ref: list[str], cur: list[str]) -> None:
    _, p, q = table(ref, cur)
    result = ChiSquaredDetector(min_rows=1).fit(np.array(ref)).score(np.array(cur, dtype=object))
    observed = np.vstack([p, q])
    observed = observed[:, observed.sum(axis=0) > 0]
    if observed.shape[1] < 2:
        assert (result.statistic, result.p_value) == (0.0, 1.0)
        return
    expected = stats.chi2_contingency(observed, correction=False)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12, abs=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-12, abs=1e-300)


@settings(max_examples=100, deadline=None)
@given(cats, cats)
def test_js_and_psi_on_categories(ref: list[str], cur: list[str]) -> None:
    _, p, q = table(ref, cur)
    js = JensenShannonDetector(min_rows=1).fit(np.array(ref)).score(cur)
    assert js.statistic == pytest.approx(float(jensenshannon(p, q, base=2)), abs=1e-12)
    psi = PSIDetector(min_rows=1).fit(np.array(ref)).score(cur)
    pp, qq = p / p.sum(), q / q.sum()
    pp, qq = np.where(pp == 0, 1e-4, pp), np.where(qq == 0, 1e-4, qq)
    assert psi.statistic == pytest.approx(float(np.sum((qq - pp) * np.log(qq / pp))), rel=1e-12)


def test_unseen_categories_go_to_their_own_bucket_and_are_named() -> None:
    ref = np.array(["web"] * 60 + ["pos"] * 40, dtype=object)
    cur = np.array(["web"] * 50 + ["pos"] * 30 + ["crypto"] * 20, dtype=object)
    result = ChiSquaredDetector().fit(ref).score(cur)
    expected = stats.chi2_contingency(np.array([[60, 40, 0], [50, 30, 20]]), correction=False)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.drifted and "never seen in training: 'crypto'" in result.message
    assert JensenShannonDetector().fit(ref).score(cur).drifted
    assert PSIDetector().fit(ref).score(cur).drifted


def test_booleans_and_integer_codes_match_across_types() -> None:
    ref = pd.Series([True, False, True, True] * 25)
    same = pa.chunked_array([[True, False, True, True] * 20])  # Arrow bools, same categories
    assert not ChiSquaredDetector().fit(ref).score(same).drifted
    codes = np.array([0, 1, 2, 2] * 25)
    as_floats = pd.Series([0.0, 1.0, 2.0, 2.0, None] * 20)  # ints that gained a NaN
    result = ChiSquaredDetector().fit(codes).score(as_floats)
    assert result.statistic == 0.0 and not result.drifted
    assert result.missing_current == pytest.approx(0.2)


@pytest.mark.parametrize(
    "current",
    [
        [1, 0] * 40,  # the same flag as integer codes
        np.array([1.0, 0.0] * 40),
        pa.chunked_array([[1, 0] * 40]),
        ["True", "False"] * 40,  # as text (a CSV, a category input logged as str)
        ["true", "false"] * 40,
    ],
)
def test_a_boolean_matches_its_integer_code_and_its_text(current: object) -> None:
    result = ChiSquaredDetector().fit([True, False] * 40).score(current)
    assert (result.statistic, result.drifted) == (0.0, False), result.message
    flipped = ChiSquaredDetector().fit(np.array([1, 1, 1, 0] * 20)).score([True, False] * 40)
    assert flipped.drifted  # a real change of the flag's share still shows


def test_nan_is_left_out_and_reported_as_missing() -> None:
    rng = np.random.default_rng(1)
    ref, cur = rng.normal(size=400), rng.normal(size=300)
    with_nan = ref.copy()
    with_nan[::4] = np.nan
    cur_nan = np.concatenate([cur, [np.nan] * 100])
    result = KSDetector().fit(with_nan).score(cur_nan)
    expected = stats.ks_2samp(with_nan[~np.isnan(with_nan)], cur)
    assert result.statistic == expected.statistic
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-12)
    assert (result.missing_reference, result.missing_current) == (0.25, 0.25)
    arrow = pa.chunked_array([pa.array(list(cur) + [None] * 100, type=pa.float64())])
    assert KSDetector().fit(with_nan).score(arrow).statistic == expected.statistic


def test_constant_columns() -> None:
    const = np.full(100, 3.0)
    same = KSDetector().fit(const).score(np.full(50, 3.0))
    assert (same.statistic, same.p_value, same.drifted) == (0.0, 1.0, False)
    moved = KSDetector().fit(const).score(np.full(50, 4.0))
    assert moved.statistic == 1.0 and moved.drifted
    # PSI keeps a bin on each side of a constant, so a move either way shows
    assert PSIDetector().fit(const).score(np.full(50, 2.0)).drifted
    assert PSIDetector().fit(const).score(np.full(50, 4.0)).drifted
    assert not PSIDetector().fit(const).score(np.full(50, 3.0)).drifted
    # a constant current window against a varied reference
    rng = np.random.default_rng(0)
    varied = rng.normal(size=200)
    result = WassersteinDetector().fit(varied).score(np.zeros(100))
    assert result.status == "ok" and result.statistic is not None and result.statistic > 0
    zero_std = WassersteinDetector().fit(np.zeros(100)).score(np.full(100, 0.5))
    assert zero_std.statistic == pytest.approx(0.5) and zero_std.drifted  # scale 1 at mean 0


@pytest.mark.parametrize("current", [[], [np.nan] * 50, list(range(10))])
def test_too_little_data_is_not_enough_data_never_drifted(current: list[float]) -> None:
    ref = np.arange(100, dtype=float)
    for detector in (KSDetector(), PSIDetector(), WassersteinDetector(), JensenShannonDetector()):
        result = detector.fit(ref).score(np.array(current, dtype=float))
        assert result.status == "not_enough_data" and not result.drifted
        assert result.statistic is None and "min_rows=30" in result.message


def test_empty_reference_is_not_enough_data() -> None:
    result = KSDetector().fit(np.array([np.nan] * 10)).score(np.arange(100.0))
    assert result.status == "not_enough_data" and "the reference has 0" in result.message


def test_misuse_gets_clear_errors() -> None:
    with pytest.raises(NotFoundError, match="not fitted yet"):
        KSDetector().score([1.0])
    with pytest.raises(InvalidArgumentError, match="ChiSquaredDetector"):
        KSDetector().fit(profile_column("c", pd.Series(["a", "b"])))
    with pytest.raises(InvalidArgumentError, match="KSDetector"):
        ChiSquaredDetector().fit(profile_column("x", np.arange(5.0)))
    assert KSDetector(alpha=0.01).get_params() == {"min_rows": 30, "alpha": 0.01}
    assert PSIDetector().get_params() == {"min_rows": 30, "threshold": 0.2, "epsilon": 1e-4}
    assert repr(KSDetector()) == "KSDetector(min_rows=30, alpha=0.05)"


@pytest.mark.parametrize("n", [20_000, 60_000])  # the error shrinks as n grows
@pytest.mark.parametrize("nx2", [0.5, 2.2, 4.0, 9.0, 16.0, 25.0])
def test_ks_p_value_tail_at_large_sizes_is_scipys_within_the_documented_error(
    n: int, nx2: float
) -> None:
    from modelyard.monitoring.stats import ks_p_value

    d = float(np.sqrt(nx2 / n))
    _, p = ks_p_value(d, 2 * n, 2 * n)  # effective size n
    expected = float(stats.kstwo.sf(d, n))
    tolerance = 2e-6 if expected >= 1e-4 else 4e-4
    assert p == pytest.approx(expected, rel=tolerance)


def test_ks_against_scipy_on_large_drifted_samples() -> None:
    rng = np.random.default_rng(11)
    ref, cur = rng.normal(size=30_000).round(2), rng.normal(0.03, size=30_000).round(2)
    result = KSDetector().fit(ref).score(cur)
    expected = stats.ks_2samp(ref, cur)
    assert result.statistic == expected.statistic
    assert result.p_value == pytest.approx(expected.pvalue, rel=2e-6)
    assert result.drifted and expected.pvalue < 0.05
