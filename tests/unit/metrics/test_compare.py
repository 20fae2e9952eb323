"""Two-sample statistics (metrics/compare.py) against known answers, scipy as the reference,
and a seeded simulation of the bootstrap CI's coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from llmbench.metrics.compare import (
    GateOutcome,
    Ratio,
    Verdict,
    _bootstrap_percentiles,
    compare_paired,
    compare_samples,
    describe_sample,
    gate,
    holm,
    holm_adjusted,
    mann_whitney,
    quantile_ratios,
    verdict,
)


def test_describe_matches_numpy_and_gates_percentiles() -> None:
    x = np.arange(1.0, 101.0)  # 1..100
    d = describe_sample(x)
    assert d.n == 100
    assert d.mean == 50.5
    assert d.p50 == np.percentile(x, 50) == 50.5
    assert d.p95 == pytest.approx(np.percentile(x, 95))  # 95.05
    assert d.p99 == pytest.approx(np.percentile(x, 99))
    assert d.spread_p5_p95 == pytest.approx(np.percentile(x, 95) - np.percentile(x, 5))
    small = describe_sample([3.0, 1.0, 2.0])  # P95 needs 20 values, P99 100, P5 20
    assert (small.p50, small.p95, small.p99, small.spread_p5_p95) == (2.0, None, None, None)
    assert describe_sample([]).n == 0


@pytest.mark.parametrize("grouped", [False, True])
def test_bootstrap_percentiles_equal_materialized_resamples(grouped: bool) -> None:
    """The weighted-count shortcut gives exactly np.percentile of each resample built by hand
    from the same draws (values, or whole groups of values)."""
    rng = np.random.default_rng(5)
    x = rng.normal(10, 3, 37)
    groups = rng.integers(0, 9, 37) if grouped else None
    got = _bootstrap_percentiles(x, groups, [5, 50, 95, 99], np.random.default_rng(11), 25)
    # The same draws, replayed: one row of group (or value) indices per resample.
    s = np.sort(x, kind="stable")
    # Ungrouped, "group" g is the g-th smallest value; grouped, groups are numbered in order.
    labels = (
        np.unique(groups, return_inverse=True)[1][np.argsort(x, kind="stable")]
        if grouped
        else np.arange(x.size)
    )
    n_groups = int(labels.max()) + 1
    drawn = np.random.default_rng(11).integers(0, n_groups, size=(25, n_groups))
    for row, picks in enumerate(drawn):
        resample = np.concatenate([s[labels == g] for g in picks])
        assert got[row] == pytest.approx(np.percentile(resample, [5, 50, 95, 99]), abs=1e-12)


def test_mann_whitney_matches_scipy_and_superiority_exact() -> None:
    b, c = [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]
    p, sup = mann_whitney(b, c) or (None, None)
    assert p == pytest.approx(stats.mannwhitneyu(b, c, alternative="two-sided").pvalue)
    assert p == pytest.approx(0.1)  # exact: 2 of the 20 orderings are as extreme
    assert sup == 0.0  # no candidate value is below a baseline value
    assert (mann_whitney(c, b) or (0, 0))[1] == 1.0
    assert (mann_whitney([1.0, 1.0], [1.0, 1.0]) or (0, 0))[1] == 0.5  # ties count half
    assert mann_whitney([], [1.0]) is None


def test_holm_known_answer() -> None:
    # sorted 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 → max(0.06, 0.04) = 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, None, 0.01]) == [pytest.approx(0.5), None, pytest.approx(0.02)]
    assert holm([0.9, 0.8]) == [1.0, 1.0]  # capped


def _ratio(lo: float, hi: float) -> Ratio:
    return Ratio("p50", (lo + hi) / 2, (lo, hi), 0.95, 1000)


@pytest.mark.parametrize(
    ("ci", "p", "lower_is_better", "expected"),
    [
        ((0.98, 1.02), 0.9, True, Verdict.SAME),  # inside ±3 %
        ((1.01, 1.02), 0.001, True, Verdict.SAME),  # significant but not meaningful
        ((0.97, 1.04), 0.9, True, Verdict.INCONCLUSIVE),  # includes 1, leaves the band
        ((1.02, 1.10), 0.001, True, Verdict.SLOWER),  # excludes 1, leaves the band
        ((1.02, 1.10), 0.2, True, Verdict.INCONCLUSIVE),  # not significant after Holm
        ((0.40, 0.60), 0.001, True, Verdict.FASTER),
        ((0.40, 0.60), 0.001, False, Verdict.SLOWER),  # tokens/s: lower is worse
    ],
)
def test_verdict_rules(
    ci: tuple[float, float], p: float, lower_is_better: bool, expected: Verdict
) -> None:
    assert verdict(_ratio(*ci), p, lower_is_better=lower_is_better) is expected


def test_no_ci_is_inconclusive() -> None:
    assert verdict(Ratio("p50", 1.0, None, 0.95, 0), 0.0) is Verdict.INCONCLUSIVE
    few = compare_samples([1.0], [2.0])
    assert few.verdict is Verdict.INCONCLUSIVE
    assert few.ratio.value == 2.0
    assert few.ratio.ci is None


def test_percentile_not_supported_gives_no_ratio() -> None:
    ratios = quantile_ratios(np.arange(1.0, 11.0), np.arange(2.0, 12.0))  # 10 values
    assert ratios["p95"].value is None  # P95 needs 20
    assert ratios["p95"].ci is None
    assert ratios["p50"].value == pytest.approx(6.5 / 5.5)


def test_bootstrap_is_seeded() -> None:
    rng = np.random.default_rng(0)
    b, c = rng.lognormal(0, 0.3, 200), rng.lognormal(0.1, 0.3, 200)
    one, two = compare_samples(b, c, seed=3), compare_samples(b, c, seed=3)
    assert one.ratio.ci == two.ratio.ci
    assert compare_samples(b, c, seed=4).ratio.ci != one.ratio.ci


def test_ci_covers_the_true_ratio_at_about_its_nominal_rate() -> None:
    """80 seeded pairs of log-normal samples (n = 80 each, true ratio of medians e^0.2): the
    95 % CI of the median ratio covers it in 87–100 % of them (binomial sd at 95 %: 2.4 %)."""
    true = math.exp(0.2)
    covered = 0
    for k in range(80):
        rng = np.random.default_rng(1000 + k)
        b, c = rng.lognormal(0.0, 0.25, 80), rng.lognormal(0.2, 0.25, 80)
        ci = quantile_ratios(b, c, statistics=("p50",), seed=k, resamples=500)["p50"].ci
        assert ci is not None
        covered += ci[0] <= true <= ci[1]
    assert 70 <= covered <= 80


def test_a_30_percent_shift_is_found_and_equal_samples_are_the_same() -> None:
    rng = np.random.default_rng(2)
    b = rng.normal(100, 2, 300)
    slower = compare_samples(b, rng.normal(130, 2, 300))
    assert slower.verdict is Verdict.SLOWER
    assert slower.ratio.ci is not None
    assert slower.ratio.ci[0] > 1.25
    assert slower.superiority == 0.0
    same = compare_samples(b, rng.normal(100, 2, 300))
    assert same.verdict is Verdict.SAME


def test_holm_adjusted_rejudges() -> None:
    rng = np.random.default_rng(4)
    b = rng.normal(100, 10, 30)
    rows = [compare_samples(b, rng.normal(108, 10, 30), seed=s) for s in range(5)]
    adjusted = holm_adjusted(rows)
    expected = holm([r.p_value for r in rows])
    assert [r.p_adjusted for r in adjusted] == expected
    for row in adjusted:
        if row.verdict is Verdict.SLOWER:
            assert row.p_adjusted is not None
            assert row.p_adjusted < 0.05


def test_paired_known_answer_and_wilcoxon() -> None:
    b = np.array([10.0, 20.0, 40.0, 5.0, 8.0, 12.0, 30.0, 9.0])
    factors = np.array([2.0, 1.5, 2.5, 1.8, 2.2, 1.9, 2.1, 1.7])
    paired = compare_paired(b, b * factors)
    assert paired.n_pairs == 8
    assert paired.ratio.value == pytest.approx(float(np.exp(np.log(factors).mean())))
    assert paired.p_value == pytest.approx(stats.wilcoxon(np.log(factors)).pvalue)
    assert paired.ratio.ci is not None
    assert paired.ratio.ci[0] > 1
    assert paired.verdict is Verdict.SLOWER
    same = compare_paired(b, b)
    assert same.p_value is None  # every ratio is exactly 1: nothing to test
    assert same.verdict is Verdict.SAME
    with pytest.raises(ValueError, match="positive"):
        compare_paired([1.0, 0.0], [1.0, 1.0])


@pytest.mark.parametrize(
    ("ci", "lower_is_better", "expected"),
    [
        ((1.12, 1.30), True, GateOutcome.REGRESSION),  # lower bound beyond 1.10
        ((1.05, 1.30), True, GateOutcome.INCONCLUSIVE),  # straddles 1.10
        ((0.95, 1.09), True, GateOutcome.PASS),  # all within 1.10
        ((0.95, 1.10), True, GateOutcome.PASS),  # on the limit is within
        ((0.70, 0.88), False, GateOutcome.REGRESSION),  # tokens/s fell more than 10 %
        ((0.85, 1.02), False, GateOutcome.INCONCLUSIVE),
        ((0.93, 1.02), False, GateOutcome.PASS),
    ],
)
def test_gate_rules(ci: tuple[float, float], lower_is_better: bool, expected: GateOutcome) -> None:
    outcome, why = gate(_ratio(*ci), 0.10, lower_is_better=lower_is_better, n=(50, 50))
    assert outcome is expected
    assert f"[{ci[0]:.3f}, {ci[1]:.3f}]" in why


def test_gate_is_inconclusive_on_too_few_values_or_no_ci() -> None:
    outcome, why = gate(_ratio(0.99, 1.01), 0.10, n=(3, 80))
    assert outcome is GateOutcome.INCONCLUSIVE
    assert "n = 3 and 80" in why
    assert gate(Ratio("p95", None, None, 0.95, 0), 0.10)[0] is GateOutcome.INCONCLUSIVE
    with pytest.raises(ValueError, match="max_regression"):
        gate(_ratio(1, 1), 0.0)
