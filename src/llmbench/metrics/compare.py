"""Two samples compared, as pure statistics on arrays: each sample described, the ratio of
their medians, P95 and P99 with seeded bootstrap CIs, a Mann–Whitney U p-value (Holm-adjusted
across the metrics shown), the probability of superiority, an equivalence band, and a verdict
that never claims a difference the CI does not support. Paired samples (tasks run on both
systems) are compared by the Wilcoxon signed-rank test on log ratios. docs/comparison.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from llmbench.metrics.stats import as_sample, gated_percentile

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DEFAULT_BAND = 0.03  # ±3 %: a ratio CI inside [0.97, 1.03] is "no meaningful difference"
DEFAULT_ALPHA = 0.05
DEFAULT_RESAMPLES = 2000
RATIO_STATISTICS = ("p50", "p95", "p99")
# Bootstrap work bound (resamples × values): above it fewer resamples are drawn (never fewer
# than MIN_RESAMPLES), and the number used is reported with the CI.
BOOTSTRAP_WORK = 20_000_000
MIN_RESAMPLES = 400
_CHUNK_ELEMENTS = 2_000_000  # resample × value elements per chunk: bounds memory


class Verdict(StrEnum):
    """What a comparison may say about the candidate against the baseline."""

    FASTER = "faster"  # better: the CI excludes 1 (and the band) on the good side, p < alpha
    SLOWER = "slower"  # worse: the same on the bad side
    SAME = "no meaningful difference"  # the whole CI lies inside the equivalence band
    INCONCLUSIVE = "inconclusive"  # anything else: the data cannot decide


@dataclass(frozen=True, slots=True)
class Description:
    """One sample: n, mean, P5, P50, P95, P99 and the P5–P95 range (the seed's "fluctuation
    range"); a percentile is None where n does not support it (`stats.percentile_min_n`)."""

    n: int
    mean: float | None
    p5: float | None
    p50: float | None
    p95: float | None
    p99: float | None

    @property
    def spread_p5_p95(self) -> float | None:
        return None if self.p5 is None or self.p95 is None else self.p95 - self.p5


def describe_sample(values: npt.ArrayLike) -> Description:
    """n, mean and gated percentiles (type 7, numpy's default) of a finite 1-D sample."""
    x = np.sort(as_sample(values))
    if x.size == 0:
        return Description(0, None, None, None, None, None)
    p5, p50, p95, p99 = (gated_percentile(x, q) for q in (5, 50, 95, 99))
    return Description(int(x.size), float(x.mean()), p5, p50, p95, p99)


@dataclass(frozen=True, slots=True)
class Ratio:
    """candidate statistic / baseline statistic, with its percentile-bootstrap CI.

    `value` is None where either sample does not support the statistic or the baseline's is 0;
    `ci` is None as well then, or when fewer than 2 values (2 clusters) are on either side.
    """

    statistic: str  # p50 | p95 | p99 | geomean (paired)
    value: float | None
    ci: tuple[float, float] | None
    confidence: float
    resamples: int

    def excludes_one(self) -> bool:
        return self.ci is not None and (self.ci[0] > 1 or self.ci[1] < 1)


@dataclass(frozen=True, slots=True)
class Comparison:
    """One metric of two samples (unpaired): baseline vs candidate.

    `superiority` is P(a random candidate value is lower than a random baseline value), ties
    counted half: the common-language effect size, U / (n_b · n_c). `p_value` is Mann–Whitney
    U's two-sided one; `p_adjusted` the same after Holm's correction across the comparisons it
    was adjusted with (`holm_adjusted`), else equal to `p_value`.
    """

    baseline: Description
    candidate: Description
    ratios: dict[str, Ratio]
    primary: str  # the ratio the verdict reads (p50 unless asked otherwise)
    p_value: float | None
    p_adjusted: float | None
    superiority: float | None
    lower_is_better: bool
    band: float
    alpha: float
    verdict: Verdict

    @property
    def ratio(self) -> Ratio:
        return self.ratios[self.primary]


def _percentile_or_none(x: FloatArray, statistic: str) -> float | None:
    return gated_percentile(np.sort(x), float(statistic[1:]))


def _bootstrap_percentiles(
    x: FloatArray,
    groups: IntArray | None,
    qs: Sequence[float],
    rng: np.random.Generator,
    resamples: int,
) -> FloatArray:
    """(resamples, len(qs)) type-7 percentiles of bootstrap resamples of `x`.

    Without `groups` each value is resampled; with them whole groups are (a cluster bootstrap:
    ITL gaps resampled by request, since gaps of one request move together). A resample is
    the sorted sample with a weight per value (how often its group was drawn), so its k-th
    value is found by counting cumulative weights ≤ k: no resample is materialized.
    """
    order = np.argsort(x, kind="stable")
    s = x[order]
    if groups is None:
        member = np.arange(s.size)
        n_groups = s.size
    else:
        _, member_all = np.unique(groups, return_inverse=True)
        member = member_all[order]
        n_groups = int(member.max()) + 1
    out = np.empty((resamples, len(qs)))
    q = np.asarray(qs, dtype=np.float64) / 100
    rows = max(1, _CHUNK_ELEMENTS // max(s.size, n_groups))
    for start in range(0, resamples, rows):
        k = min(rows, resamples - start)
        drawn = rng.integers(0, n_groups, size=(k, n_groups)) + (np.arange(k) * n_groups)[:, None]
        counts = np.bincount(drawn.ravel(), minlength=k * n_groups).reshape(k, n_groups)
        cum = np.cumsum(counts[:, member], axis=1)  # (k, n): how many drawn values ≤ each
        for i in range(k):
            h = (cum[i, -1] - 1) * q
            lo = np.floor(h)
            # The value of 0-based rank r in the resample is the first with cum > r.
            at = np.searchsorted(cum[i], np.concatenate((lo, lo + 1)), side="right")
            at = np.minimum(at, s.size - 1)
            low, high = s[at[: q.size]], s[at[q.size :]]
            out[start + i] = low + (h - lo) * (high - low)
    return out
    return out


def _resamples_for(n: int, asked: int) -> int:
    return max(MIN_RESAMPLES, min(asked, BOOTSTRAP_WORK // max(n, 1)))


def quantile_ratios(
    baseline: npt.ArrayLike,
    candidate: npt.ArrayLike,
    *,
    statistics: Sequence[str] = RATIO_STATISTICS,
    seed: int = 0,
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    baseline_groups: npt.ArrayLike | None = None,
    candidate_groups: npt.ArrayLike | None = None,
) -> dict[str, Ratio]:
    """candidate Pq / baseline Pq for each statistic ("p50", "p95", ...), with percentile-
    bootstrap CIs: both samples resampled independently (by group when groups are given),
    seeded by `seed` so the same inputs always give the same CI."""
    b, c = as_sample(baseline), as_sample(candidate)
    point = {s: _point_ratio(b, c, s) for s in statistics}
    bg = None if baseline_groups is None else np.asarray(baseline_groups)
    cg = None if candidate_groups is None else np.asarray(candidate_groups)
    clusters = min(_n_clusters(b, bg), _n_clusters(c, cg))
    used = _resamples_for(max(b.size, c.size), resamples)
    if clusters < 2 or all(v is None for v in point.values()):
        return {s: Ratio(s, point[s], None, confidence, 0) for s in statistics}
    rng = np.random.Generator(np.random.PCG64(seed))
    qs = [float(s[1:]) for s in statistics]
    boot_b = _bootstrap_percentiles(b, bg, qs, rng, used)
    boot_c = _bootstrap_percentiles(c, cg, qs, rng, used)
    alpha = 1 - confidence
    out: dict[str, Ratio] = {}
    for j, statistic in enumerate(statistics):
        value = point[statistic]
        ci = None
        if value is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios = boot_c[:, j] / boot_b[:, j]
            ratios = ratios[np.isfinite(ratios)]
            if ratios.size >= used // 2:
                lo, hi = np.quantile(ratios, [alpha / 2, 1 - alpha / 2])
                ci = (float(lo), float(hi))
        out[statistic] = Ratio(statistic, value, ci, confidence, used)
    return out


def _n_clusters(x: FloatArray, groups: npt.NDArray[np.generic] | None) -> int:
    if groups is None:
        return int(x.size)
    if groups.shape != x.shape:
        raise ValueError(f"groups shape {groups.shape} is not the sample's {x.shape}")
    return int(np.unique(groups).size)


def _point_ratio(b: FloatArray, c: FloatArray, statistic: str) -> float | None:
    pb, pc = _percentile_or_none(b, statistic), _percentile_or_none(c, statistic)
    if pb is None or pc is None or pb == 0:
        return None
    return pc / pb


def mann_whitney(baseline: npt.ArrayLike, candidate: npt.ArrayLike) -> tuple[float, float] | None:
    """(two-sided Mann–Whitney U p-value, P(candidate < baseline) + ½·P(tie)); None when either
    sample is empty. scipy's `mannwhitneyu` (exact for small samples without ties)."""
    b, c = as_sample(baseline), as_sample(candidate)
    if b.size == 0 or c.size == 0:
        return None
    from scipy.stats import mannwhitneyu  # lazy: scipy.stats costs ~1.5 s to import

    result = mannwhitneyu(b, c, alternative="two-sided")
    # U of the baseline counts pairs where baseline > candidate (ties half): candidate lower.
    superiority = float(result.statistic) / (b.size * c.size)
    p = float(result.pvalue)
    return (p if math.isfinite(p) else 1.0), superiority


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm–Bonferroni adjusted p-values (None stays None and is not counted): the i-th
    smallest of m is multiplied by m − i + 1, made monotone, capped at 1."""
    present = [(p, i) for i, p in enumerate(p_values) if p is not None]
    present.sort()
    m = len(present)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def verdict(
    ratio: Ratio,
    p_adjusted: float | None,
    *,
    lower_is_better: bool = True,
    band: float = DEFAULT_BAND,
    alpha: float = DEFAULT_ALPHA,
) -> Verdict:
    """SAME when the CI lies inside [1 − band, 1 + band]; FASTER/SLOWER when the CI lies wholly
    on one side of 1, outside the band there (it may straddle the band's edge, never 1), and
    the adjusted p-value (when there is one) is below alpha; INCONCLUSIVE otherwise."""
    if ratio.ci is None:
        return Verdict.INCONCLUSIVE
    lo, hi = ratio.ci
    if 1 - band <= lo and hi <= 1 + band:
        return Verdict.SAME
    significant = p_adjusted is None or p_adjusted < alpha
    if not significant or not ratio.excludes_one():
        return Verdict.INCONCLUSIVE
    lower = hi < 1
    return Verdict.FASTER if lower == lower_is_better else Verdict.SLOWER


def compare_samples(
    baseline: npt.ArrayLike,
    candidate: npt.ArrayLike,
    *,
    lower_is_better: bool = True,
    primary: str = "p50",
    seed: int = 0,
    confidence: float = 0.95,
    band: float = DEFAULT_BAND,
    alpha: float = DEFAULT_ALPHA,
    resamples: int = DEFAULT_RESAMPLES,
    baseline_groups: npt.ArrayLike | None = None,
    candidate_groups: npt.ArrayLike | None = None,
    test_samples: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
) -> Comparison:
    """Everything about one metric of two independent samples (docs/comparison.md).

    Groups (one label per value) make the ratio CIs a cluster bootstrap; `test_samples`
    replaces the samples for the Mann–Whitney test and the superiority (ITL: one value per
    request, since pooled gaps are not independent). The verdict reads the `primary` ratio;
    `holm_adjusted` re-judges a set of comparisons with adjusted p-values.
    """
    statistics = tuple(dict.fromkeys((*RATIO_STATISTICS, primary)))
    ratios = quantile_ratios(
        baseline, candidate, statistics=statistics, seed=seed, confidence=confidence,
        resamples=resamples, baseline_groups=baseline_groups, candidate_groups=candidate_groups,
    )  # fmt: skip
    tb, tc = test_samples if test_samples is not None else (baseline, candidate)
    test = mann_whitney(tb, tc)
    p, sup = test if test is not None else (None, None)
    return Comparison(
        baseline=describe_sample(baseline), candidate=describe_sample(candidate),
        ratios=ratios, primary=primary, p_value=p, p_adjusted=p, superiority=sup,
        lower_is_better=lower_is_better, band=band, alpha=alpha,
        verdict=verdict(ratios[primary], p, lower_is_better=lower_is_better, band=band,
                        alpha=alpha),
    )  # fmt: skip


def holm_adjusted(comparisons: Sequence[Comparison]) -> list[Comparison]:
    """The comparisons with Holm-adjusted p-values across all of them, verdicts re-judged."""
    adjusted = holm([c.p_value for c in comparisons])
    return [
        replace(
            c,
            p_adjusted=p,
            verdict=verdict(
                c.ratio, p, lower_is_better=c.lower_is_better, band=c.band, alpha=c.alpha
            ),
        )
        for c, p in zip(comparisons, adjusted, strict=True)
    ]


@dataclass(frozen=True, slots=True)
class PairedComparison:
    """Tasks run on both systems, compared pair by pair on log(candidate / baseline).

    `ratio` is the geometric mean of the per-pair ratios, exp(mean log ratio), with a
    percentile-bootstrap CI over pairs; `p_value` is the two-sided Wilcoxon signed-rank test of
    the log ratios (None below 2 pairs or when every ratio is exactly 1).
    """

    n_pairs: int
    ratio: Ratio
    p_value: float | None
    p_adjusted: float | None
    lower_is_better: bool
    band: float
    alpha: float
    verdict: Verdict


def compare_paired(
    baseline: npt.ArrayLike,
    candidate: npt.ArrayLike,
    *,
    lower_is_better: bool = True,
    seed: int = 0,
    confidence: float = 0.95,
    band: float = DEFAULT_BAND,
    alpha: float = DEFAULT_ALPHA,
    resamples: int = DEFAULT_RESAMPLES,
) -> PairedComparison:
    """Pairs (baseline[i], candidate[i]) of positive values: see `PairedComparison`."""
    b, c = as_sample(baseline), as_sample(candidate)
    if b.shape != c.shape:
        raise ValueError(f"paired samples differ in length: {b.size} and {c.size}")
    if (b <= 0).any() or (c <= 0).any():
        raise ValueError("paired ratios need positive values (times, rates)")
    logs = np.log(c) - np.log(b)
    n = int(logs.size)
    value = float(np.exp(logs.mean())) if n else None
    ci: tuple[float, float] | None = None
    p: float | None = None
    used = 0
    if n >= 2:
        used = _resamples_for(n, resamples)
        rng = np.random.Generator(np.random.PCG64(seed))
        means = np.empty(used)
        rows = max(1, _CHUNK_ELEMENTS // n)
        for start in range(0, used, rows):
            idx = rng.integers(0, n, size=(min(rows, used - start), n))
            means[start : start + idx.shape[0]] = logs[idx].mean(axis=1)
        lo, hi = np.exp(np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2]))
        ci = (float(lo), float(hi))
        if np.any(logs != 0):
            from scipy.stats import wilcoxon

            p = float(wilcoxon(logs).pvalue)
    ratio = Ratio("geomean", value, ci, confidence, used)
    return PairedComparison(
        n_pairs=n, ratio=ratio, p_value=p, p_adjusted=p, lower_is_better=lower_is_better,
        band=band, alpha=alpha,
        verdict=verdict(ratio, p, lower_is_better=lower_is_better, band=band, alpha=alpha),
    )  # fmt: skip


class GateOutcome(StrEnum):
    PASS = "pass"  # the CI rules out a regression beyond the allowed one
    REGRESSION = "regression"  # the whole CI lies beyond the allowed regression
    INCONCLUSIVE = "inconclusive"  # the CI straddles the limit, or too few values to decide


GATE_MIN_N = 20  # below this many values on either side the percentile bootstrap is not trusted


def gate(
    ratio: Ratio,
    max_regression: float,
    *,
    lower_is_better: bool = True,
    n: tuple[int, int] | None = None,
    min_n: int = GATE_MIN_N,
) -> tuple[GateOutcome, str]:
    """A regression check on candidate/baseline `ratio`, and why, in words.

    The limit is 1 + max_regression (lower is better: latency) or 1 − max_regression (higher
    is better: tokens/s). REGRESSION only when the CI's bound nearest 1 is beyond the limit;
    PASS only when the whole CI is on the good side of it; INCONCLUSIVE otherwise, and always
    when either side has fewer than `min_n` values (`n`: the two sample sizes) or no CI.
    """
    if max_regression <= 0:
        raise ValueError(f"max_regression must be > 0, got {max_regression}")
    if n is not None and min(n) < min_n:
        why = f"too few values to decide (n = {n[0]} and {n[1]}; at least {min_n} each)"
        return GateOutcome.INCONCLUSIVE, why
    if ratio.value is None or ratio.ci is None:
        return GateOutcome.INCONCLUSIVE, "too few values for this statistic or for a CI"
    lo, hi = ratio.ci
    limit = 1 + max_regression if lower_is_better else 1 - max_regression
    ci = f"[{lo:.3f}, {hi:.3f}]"
    worse_bound, better_bound = (lo, hi) if lower_is_better else (hi, lo)
    beyond = worse_bound > limit if lower_is_better else worse_bound < limit
    within = better_bound <= limit if lower_is_better else better_bound >= limit
    if beyond:
        return GateOutcome.REGRESSION, f"the whole CI {ci} is beyond the limit {limit:.3f}"
    if within:
        return GateOutcome.PASS, f"the whole CI {ci} is within the limit {limit:.3f}"
    return GateOutcome.INCONCLUSIVE, f"the CI {ci} straddles the limit {limit:.3f}"
