"""describe / three_sigma_view / order-statistic ranks against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from llmbench.metrics import describe, three_sigma_view
from llmbench.metrics.stats import order_statistic_ci_ranks, percentile_min_n, percentiles


def test_small_sample_matches_numpy() -> None:
    x = [float(v) for v in range(1, 11)]  # 1..10
    d = describe(x)
    assert d["n"] == 10
    assert d["mean"] == 5.5
    assert d["std"] == pytest.approx(np.std(x, ddof=1))  # sqrt(82.5 / 9) = 3.0277
    assert (d["min"], d["max"]) == (1.0, 10.0)
    assert d["p50"] == 5.5  # h = 9 · 0.5 = 4.5 → x[4] + 0.5 · (x[5] − x[4])
    assert d["p90"] == pytest.approx(9.1)  # h = 8.1 → 9 + 0.1 · (10 − 9)
    # n = 10 supports P90 only: P5, P95 need 20, P99 needs 100
    assert (d["p5"], d["p95"], d["p99"]) == (None, None, None)
    assert d["spread_p5_p95"] is None
    assert d["spread_min_max"] == 9.0


def test_percentiles_match_numpy_linear() -> None:
    x = np.random.default_rng(3).lognormal(size=250)
    d = describe(x)
    for q in (5, 50, 90, 95, 99):
        assert d[f"p{q}"] == pytest.approx(np.percentile(x, q, method="linear"), rel=1e-12)
    assert d["spread_p5_p95"] == pytest.approx(d["p95"] - d["p5"])


@pytest.mark.parametrize(("q", "n_min"), [(5, 20), (50, 1), (90, 10), (95, 20), (99, 100)])
def test_percentile_reported_only_from_its_n(q: int, n_min: int) -> None:
    assert percentile_min_n(q) == n_min
    assert describe(np.arange(float(n_min)))[f"p{q}"] is not None
    if n_min > 1:
        assert describe(np.arange(float(n_min - 1)))[f"p{q}"] is None


def test_percentile_min_n_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="percentile"):
        percentile_min_n(100)


def test_empty_sample_is_all_none() -> None:
    d = describe([])
    assert d["n"] == 0
    assert all(v is None for k, v in d.items() if k not in ("n", "confidence"))


def test_single_value() -> None:
    d = describe([42.0])
    assert (d["n"], d["mean"], d["min"], d["p50"], d["max"]) == (1, 42.0, 42.0, 42.0, 42.0)
    assert d["std"] is None  # ddof = 1 needs two values
    assert d["mean_ci"] is None
    assert d["spread_min_max"] == 0.0  # a real zero: the one value spreads nowhere
    assert d["outliers"]["fence_1_5"] is None
    assert d["outliers"]["n_beyond_3"] is None


def test_rejects_non_finite_and_2d() -> None:
    with pytest.raises(ValueError, match="finite"):
        describe([1.0, math.nan])
    with pytest.raises(ValueError, match="one-dimensional"):
        describe([[1.0, 2.0]])


def _coverage(n: int, q: float, ranks: tuple[int, int]) -> float:
    lo, hi = ranks  # P(l ≤ B ≤ u − 1), B ~ Binomial(n, q)
    return float(binom.cdf(hi - 1, n, q / 100) - binom.cdf(lo - 1, n, q / 100))


def test_order_statistic_ranks_known_n() -> None:
    # n = 100, P95: B ~ Bin(100, 0.95); ppf(0.025) = 90 → l = 90; ppf(0.975) = 99 → u = 100
    assert order_statistic_ci_ranks(100, 95, 0.95) == (90, 100)
    assert _coverage(100, 95, (90, 100)) >= 0.95
    # P50, n = 6: (1, 6) covers 1 − 2 · 0.5⁶ = 0.969; n = 5: at most 1 − 2 · 0.5⁵ = 0.9375
    assert order_statistic_ci_ranks(6, 50, 0.95) == (1, 6)
    assert order_statistic_ci_ranks(5, 50, 0.95) is None


@pytest.mark.parametrize(("q", "first_n"), [(95, 59), (99, 299)])
def test_order_statistic_ranks_exist_from_first_n(q: int, first_n: int) -> None:
    # (1, n) covers 1 − qⁿ − (1 − q)ⁿ: for P95 0.9515 at n = 59, 0.9490 at n = 58
    assert order_statistic_ci_ranks(first_n - 1, q, 0.95) is None
    ranks = order_statistic_ci_ranks(first_n, q, 0.95)
    assert ranks is not None
    assert ranks[1] == first_n
    assert _coverage(first_n, q, ranks) >= 0.95


@pytest.mark.parametrize("n", [*range(60, 400, 7), 1_000, 71_507, 9_000_000])
@pytest.mark.parametrize("q", [5, 50, 90, 95, 99])
def test_order_statistic_ranks_match_scipy_stats_binom_ppf(n: int, q: int) -> None:
    # The ranks come from a bisection over scipy.special.bdtr (scipy.stats costs ~1.5 s to
    # import); they must be scipy.stats' binom.ppf ranks, the definition in the docstring.
    for confidence in (0.9, 0.95, 0.99):
        alpha = 1 - confidence
        low = int(binom.ppf(alpha / 2, n, q / 100))
        high = int(binom.ppf(1 - alpha / 2, n, q / 100)) + 1
        if low >= 1 and high <= n:
            assert order_statistic_ci_ranks(n, q, confidence) == (low, high)


def test_p95_ci_values_are_order_statistics() -> None:
    d = describe(np.arange(1.0, 101.0))  # 1..100, ranks (90, 100) → values 90, 100
    assert d["p95_ci"] == [90.0, 100.0]
    assert d["p99_ci"] is None  # P99 needs n ≥ 299 for a 95 % distribution-free CI


def test_bootstrap_reproducible_by_seed() -> None:
    x = np.random.default_rng(0).exponential(size=300)
    a, b, c = describe(x, seed=7), describe(x, seed=7), describe(x, seed=8)
    assert a["mean_ci"] == b["mean_ci"]
    assert a["mean_ci"] != c["mean_ci"]
    assert a["mean_ci"][0] < a["mean"] < a["mean_ci"][1]


def test_grouped_bootstrap_for_large_n_matches_normal_limit() -> None:
    x = np.random.default_rng(1).normal(10.0, 2.0, size=40_000)  # > 2,500 groups: grouped
    lo, hi = describe(x)["mean_ci"]
    half = 1.96 * x.std(ddof=1) / math.sqrt(x.size)
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.15)
    assert lo < x.mean() < hi


def test_tukey_flags_without_dropping() -> None:
    x = [10.0, 11, 12, 13, 14, 15, 16, 17, 18, 100]
    d = describe(x)
    o = d["outliers"]
    # Q1: h = 2.25 → 12.25; Q3: h = 6.75 → 16.75; IQR = 4.5
    assert o["fence_1_5"] == pytest.approx([12.25 - 6.75, 16.75 + 6.75])  # [5.5, 23.5]
    assert o["fence_3"] == pytest.approx([12.25 - 13.5, 16.75 + 13.5])  # [-1.25, 30.25]
    assert (o["n_beyond_1_5"], o["n_beyond_3"]) == (1, 1)
    assert o["indices_beyond_1_5"] == o["indices_beyond_3"] == [9]
    assert d["n"] == 10  # flagged, not dropped
    assert d["max"] == 100.0
    assert d["mean"] == pytest.approx(22.6)  # (126 + 100) / 10 includes the outlier


def test_outlier_indices_capped_counts_complete() -> None:
    x = [1.0] * 20 + [1000.0] * 3
    o = describe(x, max_indices=2)["outliers"]
    assert o["n_beyond_3"] == 3
    assert o["indices_beyond_3"] == [20, 21]


def test_three_sigma_view() -> None:
    x = [9.0, 11.0] * 10 + [100.0]  # mean 300/21 = 14.29, std 19.67 → hi = 73.28
    v = three_sigma_view(x)
    assert v["mean"] == pytest.approx(300 / 21)
    assert v["hi"] == pytest.approx(v["mean"] + 3 * np.std(x, ddof=1))
    assert (v["n_dropped"], v["indices_dropped"]) == (1, [20])
    assert v["after"]["n"] == 20
    assert v["after"]["mean"] == 10.0


def test_three_sigma_view_too_small() -> None:
    v = three_sigma_view([5.0])
    assert (v["std"], v["lo"], v["n_dropped"], v["after"]["n"]) == (None, None, 0, 1)


samples = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=300
)


@settings(max_examples=60, deadline=None)
@given(samples)
def test_percentiles_monotone_and_cis_within_range(values: list[float]) -> None:
    d = describe(values, bootstrap_resamples=200)
    keys = ("min", "p5", "p50", "p90", "p95", "p99", "max")
    reported = [d[k] for k in keys if d[k] is not None]
    assert reported == sorted(reported)
    for key in ("mean_ci", "p95_ci", "p99_ci"):
        if d[key] is not None:
            lo, hi = d[key]
            assert d["min"] <= lo <= hi <= d["max"]
    if d["mean_ci"] is not None:
        tol = 1e-9 * max(1.0, abs(d["min"]), abs(d["max"]))
        assert d["mean_ci"][0] - tol <= d["mean"] <= d["mean_ci"][1] + tol


@settings(max_examples=80, deadline=None)
@given(st.integers(2, 3000), st.sampled_from([50, 90, 95, 99]))
def test_order_statistic_ranks_cover(n: int, q: int) -> None:
    ranks = order_statistic_ci_ranks(n, q, 0.95)
    if ranks is None:  # even the widest pair (1, n) falls short
        assert _coverage(n, q, (1, n)) < 0.95
    else:
        assert 1 <= ranks[0] < ranks[1] <= n
        assert _coverage(n, q, ranks) >= 0.95 - 1e-9


@pytest.mark.parametrize(("q", "n_min"), [(5, 20), (50, 1), (90, 10), (95, 20), (99, 100)])
def test_percentiles_outside_describe_follow_the_same_gate(q: int, n_min: int) -> None:
    x = np.random.default_rng(q).permutation(np.arange(float(n_min)))  # unsorted on purpose
    assert percentiles(x, (q,))[f"p{q}"] == describe(x)[f"p{q}"]
    assert percentiles(x, (q,))[f"p{q}"] is not None
    assert percentiles(x[:-1], (q,))[f"p{q}"] is None  # one fewer (none at all for P50)
