"""Distribution summaries of one sample: percentiles (only where n supports them), CIs, outliers.

`describe` returns a JSON-ready dict; values are in display units already. Outliers are flagged
(Tukey fences), never removed; `three_sigma_view` shows what the 3σ rule would drop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

PERCENTILES = (5, 50, 90, 95, 99)
# Work bound of the exact bootstrap (resamples × n draws); above it values are grouped.
BOOTSTRAP_DRAW_BUDGET = 5_000_000
# Index matrix elements drawn per chunk: bounds memory (8 MB of int64) whatever n is.
_CHUNK_ELEMENTS = 1_000_000


def percentile_min_n(q: float) -> int:
    """Smallest n for which Pq is not simply the sample max (or min): ⌈1/(1−q)⌉, ⌈1/q⌉; P50 → 1."""
    if not 0 < q < 100:
        raise ValueError(f"percentile must be in (0, 100), got {q}")
    if q == 50:
        return 1
    tail = (100 - q) if q > 50 else q
    # Round away float noise first: 100 / (100 - 95) must be 20, not 20.000000000000004.
    return math.ceil(round(100 / tail, 9))


def percentile_sorted(sorted_values: FloatArray, q: float) -> float:
    """Pq of an ascending sample by linear interpolation (Hyndman–Fan type 7, numpy's default)."""
    h = (sorted_values.size - 1) * q / 100
    lo = math.floor(h)
    hi = min(lo + 1, sorted_values.size - 1)
    low, high = float(sorted_values[lo]), float(sorted_values[hi])
    return min(low + (h - lo) * (high - low), high)  # rounding must not pass the next value


def gated_percentile(sorted_values: FloatArray, q: float) -> float | None:
    """Pq of an ascending sample, or None where n < `percentile_min_n(q)`: the one place that
    decides whether a sample supports a percentile (`describe`, the client watch, benchmarks)."""
    if sorted_values.size < percentile_min_n(q):
        return None
    return percentile_sorted(sorted_values, q)


def percentiles(values: npt.ArrayLike, qs: Sequence[float]) -> dict[str, float | None]:
    """{"p50": …, "p99": …} of any sample (sorted here); each None where n does not support it."""
    s = np.sort(np.asarray(values, dtype=np.float64).ravel())
    return {f"p{q:g}": gated_percentile(s, q) for q in qs}


def order_statistic_ci_ranks(n: int, q: float, confidence: float) -> tuple[int, int] | None:
    """1-based ranks l < u with P(X_(l) ≤ ξq ≤ X_(u)) ≥ confidence, distribution-free.

    The count B of values ≤ ξq is Binomial(n, q/100), so the coverage is F(u−1) − F(l−1).
    Equal tails when they fit in 1..n; otherwise one end is pinned at the sample edge and the
    other widened. None when no such ranks exist (n too small).
    """
    if n < 2:
        return None
    # Lazy, and scipy.special rather than scipy.stats: importing scipy.stats costs ~1.5 s of CPU
    # (a sixth of an hour's `sim predict`); its binom.ppf is the same search over this CDF.
    from scipy.special import bdtr

    p = q / 100
    alpha = 1 - confidence
    low = _binom_ppf(alpha / 2, n, p)  # F(low − 1) < α/2
    high = _binom_ppf(1 - alpha / 2, n, p) + 1  # F(high − 1) ≥ 1 − α/2
    if low >= 1 and high <= n:
        return low, high
    # Small n only (a tail ran off the sample), so the full CDF is cheap.
    cdf = bdtr(np.arange(n + 1), n, p)
    if high > n:
        high = n
        target = cdf[n - 1] - confidence
        # l − 1 = the largest k with F(k) ≤ target, so l = how many F(k) are ≤ target.
        low = int(np.searchsorted(cdf, target + 1e-12, side="right"))
        return (low, high) if low >= 1 else None
    # low < 1: pin l = 1 and find the smallest u with F(u−1) − F(0) ≥ confidence.
    k = int(np.searchsorted(cdf, confidence + cdf[0] - 1e-12, side="left"))
    return (1, k + 1) if k + 1 <= n else None


def _binom_ppf(quantile: float, n: int, p: float) -> int:
    """Smallest k with F(k) ≥ quantile for Binomial(n, p), by bisection over the exact CDF."""
    from scipy.special import bdtr

    below, at_or_above = -1, n  # F(−1) = 0 < quantile ≤ 1 = F(n)
    while at_or_above - below > 1:
        mid = (below + at_or_above) // 2
        if bdtr(mid, n, p) >= quantile:
            at_or_above = mid
        else:
            below = mid
    return at_or_above


def bootstrap_mean_ci(
    values: FloatArray, *, seed: int, confidence: float, resamples: int
) -> tuple[float, float] | None:
    """Percentile-bootstrap CI of the mean, seeded and chunked; None when n < 2.

    When resamples × n exceeds BOOTSTRAP_DRAW_BUDGET each value is first assigned to one of
    G = budget / resamples groups at random and whole groups are resampled (mean = Σsums/Σcounts,
    the cluster-bootstrap ratio estimator): to first order the plain bootstrap's variance σ²/n,
    at O(n + G·resamples) cost.
    """
    n = values.size
    if n < 2:
        return None
    rng = np.random.Generator(np.random.PCG64(seed))
    groups = max(2, BOOTSTRAP_DRAW_BUDGET // resamples)
    counts: FloatArray | None = None
    sums = values
    if n > groups:
        labels = rng.integers(0, groups, size=n)
        sums = np.bincount(labels, weights=values, minlength=groups).astype(np.float64)
        counts = np.bincount(labels, minlength=groups).astype(np.float64)
    m = sums.size
    rows = max(1, _CHUNK_ELEMENTS // m)
    means = np.empty(resamples)
    for start in range(0, resamples, rows):
        idx = rng.integers(0, m, size=(min(rows, resamples - start), m))
        total = sums[idx].sum(axis=1)
        means[start : start + idx.shape[0]] = (
            total / m if counts is None else total / counts[idx].sum(axis=1)
        )
    alpha = 1 - confidence
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    # Float sums can put a mean of equal values an ulp outside the sample; a mean cannot be.
    low, high = float(values.min()), float(values.max())
    return min(max(float(lo), low), high), min(max(float(hi), low), high)


def _indices(mask: npt.NDArray[np.bool_], max_indices: int | None) -> list[int]:
    found = np.flatnonzero(mask)
    return found[:max_indices].tolist() if max_indices is not None else found.tolist()


def quartiles(sorted_values: FloatArray) -> tuple[float, float] | None:
    """(Q1, Q3) of an ascending sample, for `tukey_outliers`; None when n < 4."""
    if sorted_values.size < 4:
        return None
    return percentile_sorted(sorted_values, 25), percentile_sorted(sorted_values, 75)


def tukey_outliers(
    values: FloatArray, q1_q3: tuple[float, float] | None, max_indices: int | None = None
) -> dict[str, Any]:
    """Tukey fences Q1 − k·IQR, Q3 + k·IQR for k = 1.5 and 3; flags, never drops.

    `q1_q3` from `quartiles`. Indices point into `values` (input order), at most `max_indices`
    of them (the counts are always complete). Everything is None when n < 4 (`q1_q3` None):
    quartiles of fewer values mean little.
    """
    if q1_q3 is None:
        return {
            "fence_1_5": None,
            "n_beyond_1_5": None,
            "indices_beyond_1_5": None,
            "fence_3": None,
            "n_beyond_3": None,
            "indices_beyond_3": None,
        }
    q1, q3 = q1_q3
    iqr = q3 - q1
    out: dict[str, Any] = {}
    for k, tag in ((1.5, "1_5"), (3.0, "3")):
        lo, hi = q1 - k * iqr, q3 + k * iqr
        mask = (values < lo) | (values > hi)
        out[f"fence_{tag}"] = [lo, hi]
        out[f"n_beyond_{tag}"] = int(np.count_nonzero(mask))
        out[f"indices_beyond_{tag}"] = _indices(mask, max_indices)
    return out


def as_sample(values: npt.ArrayLike) -> FloatArray:
    """`values` as a 1-D float array; ValueError unless every value is finite."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"a sample is one-dimensional, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("a sample must hold finite values only (drop 'not applicable' first)")
    return arr


def _empty(confidence: float) -> dict[str, Any]:
    keys = ("mean", "std", "min", *(f"p{q}" for q in PERCENTILES), "max")
    out: dict[str, Any] = {"n": 0, "confidence": confidence}
    out.update(dict.fromkeys(keys))
    out.update(dict.fromkeys(("spread_p5_p95", "spread_min_max", "mean_ci", "p95_ci", "p99_ci")))
    out["outliers"] = None
    return out


def _percentile_ci(sorted_values: FloatArray, q: float, confidence: float) -> list[float] | None:
    ranks = order_statistic_ci_ranks(sorted_values.size, q, confidence)
    if ranks is None:
        return None
    return [float(sorted_values[ranks[0] - 1]), float(sorted_values[ranks[1] - 1])]


def describe(
    values: npt.ArrayLike,
    *,
    seed: int = 0,
    confidence: float = 0.95,
    bootstrap_resamples: int = 2000,
    max_indices: int | None = None,
) -> dict[str, Any]:
    """JSON-ready summary of one sample (finite floats in display units).

    Keys: n, confidence, mean, std (ddof=1), min, p5, p50, p90, p95, p99, max, spread_p5_p95,
    spread_min_max, mean_ci, p95_ci, p99_ci, outliers. Pq is None below `percentile_min_n(q)`;
    an empty sample has n = 0 and None elsewhere.
    """
    x = as_sample(values)
    n = int(x.size)
    if n == 0:
        return _empty(confidence)
    # Peak memory: at most one temporary as large as x at a time (the std's deviations, then
    # the sorted copy, then the outlier masks, then the bootstrap's labels): the order of the
    # steps is chosen for that.
    out: dict[str, Any] = {"n": n, "confidence": confidence, "mean": float(x.mean())}
    out["std"] = float(x.std(ddof=1)) if n >= 2 else None
    s = np.sort(x)
    out["min"] = float(s[0])
    for q in PERCENTILES:
        out[f"p{q}"] = gated_percentile(s, q)
    out["max"] = float(s[-1])
    p5, p95 = out["p5"], out["p95"]
    out["spread_p5_p95"] = p95 - p5 if p5 is not None and p95 is not None else None
    out["spread_min_max"] = out["max"] - out["min"]
    out["mean_ci"] = None  # computed below (after the sorted copy is gone), in this key order
    out["p95_ci"] = _percentile_ci(s, 95, confidence)
    out["p99_ci"] = _percentile_ci(s, 99, confidence)
    q1_q3 = quartiles(s)
    del s
    ci = bootstrap_mean_ci(x, seed=seed, confidence=confidence, resamples=bootstrap_resamples)
    out["mean_ci"] = list(ci) if ci is not None else None
    out["outliers"] = tukey_outliers(x, q1_q3, max_indices)
    return out


def three_sigma_view(
    values: npt.ArrayLike, *, seed: int = 0, max_indices: int | None = None
) -> dict[str, Any]:
    """What the 3σ rule would drop (|x − mean| > 3·std, ddof=1), and `describe` of the rest.

    A view only: nothing is removed from any other statistic. With n < 2 there is no std, so
    the bounds are None and nothing is dropped.
    """
    x = as_sample(values)
    if x.size < 2:
        mean = float(x.mean()) if x.size else None
        return {
            "mean": mean,
            "std": None,
            "lo": None,
            "hi": None,
            "n_dropped": 0,
            "indices_dropped": [],
            "after": describe(x, seed=seed, max_indices=max_indices),
        }
    mean, std = float(x.mean()), float(x.std(ddof=1))
    lo, hi = mean - 3 * std, mean + 3 * std
    dropped = (x < lo) | (x > hi)
    return {
        "mean": mean,
        "std": std,
        "lo": lo,
        "hi": hi,
        "n_dropped": int(np.count_nonzero(dropped)),
        "indices_dropped": _indices(dropped, max_indices),
        "after": describe(x[~dropped], seed=seed, max_indices=max_indices),
    }
