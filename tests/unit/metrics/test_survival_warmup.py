"""Kaplan–Meier time to success with censored tasks, the log-rank test, MSER-5 warm-up."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from llmbench.metrics.stability import Verdict, classify_without_objectives
from llmbench.metrics.survival import kaplan_meier, logrank_p
from llmbench.metrics.warmup import mser5


def test_kaplan_meier_by_hand() -> None:
    # times 1..6, censored at 3 and 5. At risk 6: S(1) = 5/6; 5: S(2) = 4/6; 3 censored;
    # at risk 3: S(4) = 4/6 · 2/3 = 4/9; 5 censored; at risk 1: S(6) = 0.
    curve = kaplan_meier([1, 2, 3, 4, 5, 6], [True, True, False, True, False, True])
    at = {float(t): float(s) for t, s in zip(curve.times, curve.survival, strict=True)}
    assert at[1.0] == pytest.approx(5 / 6)
    assert at[2.0] == pytest.approx(4 / 6)
    assert at[4.0] == pytest.approx(4 / 9)
    assert at[6.0] == 0.0
    assert (curve.n, curve.n_succeeded, curve.n_censored) == (6, 4, 2)
    assert curve.median == 4.0  # first time S ≤ 0.5
    assert curve.success_by(2.5) == pytest.approx(1 / 3)
    assert curve.success_by(0.5) == 0.0


def test_censored_tasks_are_kept_not_dropped() -> None:
    """Dropping the timeouts would make the system look faster: with them censored, the
    median time to success is later than the median of the successes alone."""
    times = np.array([10, 12, 14, 30, 30, 30, 30.0])  # four timed out at 30 s
    ok = np.array([True, True, True, False, False, False, False])
    curve = kaplan_meier(times, ok)
    assert curve.median is None  # fewer than half succeeded: the median is not reached
    assert float(np.median(times[ok])) == 12.0  # what dropping the censored would claim
    none = kaplan_meier([5.0, 6.0], [False, False])
    assert (none.n_succeeded, none.median) == (0, None)


def test_logrank_matches_scipy() -> None:
    bt, bok = np.array([1, 2, 3, 4, 5.0]), np.array([1, 1, 1, 1, 0], dtype=bool)
    ct, cok = np.array([3, 4, 5, 6, 7.0]), np.array([1, 1, 1, 0, 0], dtype=bool)
    expected = stats.logrank(
        stats.CensoredData(uncensored=bt[bok], right=bt[~bok]),
        stats.CensoredData(uncensored=ct[cok], right=ct[~cok]),
    ).pvalue
    assert logrank_p(bt, bok, ct, cok) == pytest.approx(expected)
    assert logrank_p([], [], ct, cok) is None


def test_mser5_finds_a_start_up_transient() -> None:
    rng = np.random.default_rng(0)
    series = np.r_[np.linspace(400, 120, 15), rng.normal(100, 5, 60)]
    check = mser5(series)
    assert check.detected
    assert check.reliable
    assert check.truncate == 15
    assert "first 15 of 75 requests look like warm-up" in check.note("TTFT")


def test_mser5_rarely_flags_stationary_noise() -> None:
    rng = np.random.default_rng(1)
    flagged = sum(mser5(rng.normal(100, 5, 60)).detected for _ in range(100))
    assert flagged <= 5


def test_mser5_says_when_a_series_never_settles() -> None:
    check = mser5(np.linspace(100, 200, 60))  # a steady climb: a growing queue
    assert not check.reliable
    assert "never settled" in check.note("TTFT")
    assert "not checked" in mser5([1.0, 2.0, 3.0]).note()


def test_load_state_without_objectives() -> None:
    assert classify_without_objectives(latency_growth=1.05) is Verdict.STABLE
    assert classify_without_objectives(latency_growth=1.6) is Verdict.BACKLOGGED
    assert classify_without_objectives(latency_growth=3.0) is Verdict.OVERLOADED
    assert classify_without_objectives(latency_growth=1.0, error_rate=0.2) is Verdict.OVERLOADED
    assert classify_without_objectives(valid=False) is Verdict.INVALID
